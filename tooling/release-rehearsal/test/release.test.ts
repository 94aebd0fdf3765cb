// The release rehearsal: a copy of the workspace versions and publishes its pending changesets to
// a Verdaccio on 127.0.0.1 and every package is installed from there into a fresh project; then
// a lone protocol patch, a framing patch and a framing minor show which versions move and what an
// installed app gets, and a release of broken packages shows that the checks catch it.
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRAMING } from '../../scripts/installed-package.mjs'
import { publishedPackages } from '../../scripts/published-packages.mjs'
import type { InstalledProject, Tree } from './installed.ts'
import type { PublishedVersion } from './registry.ts'
import { caretAdmits, expectOk, nextVersion, Rehearsal } from './rehearsal.ts'
import type { Bump, PlannedRelease, WorkspacePackage } from './workspace.ts'

// The packages are whatever the workspace publishes when the suite is collected.
const packages = publishedPackages() as WorkspacePackage[]
const names = packages.map((pkg) => pkg.manifest.name)
const dependents = packages.filter((pkg) => pkg.manifest.name !== FRAMING)
const [lone] = dependents
const app = dependents.at(-1)
if (!names.includes(FRAMING) || lone === undefined || app === undefined) {
  throw new Error(`the rehearsal needs ${FRAMING} and a package depending on it; the workspace publishes ${names.join(', ')}`)
}

let rehearsal: Rehearsal
// The copy's versions by package name, as the last `version-packages` left them.
let versions = new Map<string, string>()
// The first round's projects by short name; the app's lives on through the later rounds.
const projects = new Map<string, InstalledProject>()

const versionsNow = (): Map<string, string> =>
  new Map(rehearsal.workspace.packages().map((pkg) => [pkg.manifest.name, pkg.manifest.version]))

function firstRoundProject(short: string): InstalledProject {
  const project = projects.get(short)
  if (project === undefined) throw new Error(`@proto/${short} was not installed`)
  return project
}

/** The version of every copy of `name` npm installed in `tree` (deduped entries are not copies). */
function installed(tree: Tree, name: string): string[] {
  const found: string[] = []
  const walk = (node: Tree): void => {
    for (const [dep, child] of Object.entries(node.dependencies ?? {})) {
      if (dep === name && child.resolved !== undefined) found.push(child.version ?? '?')
      walk(child)
    }
  }
  walk(tree)
  return found
}

async function publishedVersion(name: string): Promise<PublishedVersion> {
  const published = (await rehearsal.registry.packument(name))?.versions[versions.get(name) ?? '']
  if (published === undefined) throw new Error(`${name}@${versions.get(name)} is not on the registry`)
  return published
}

/** What one round changed: the versions `version-packages` moved, and the packages new to the registry. */
interface Round {
  readonly released: string[]
  readonly published: string[]
}

/**
 * Versions the pending changesets and publishes them. On the way: the plan moves exactly the
 * packages `expected` names, with those bumps; `version-packages` writes each the version its
 * bump gives and leaves every other package alone; afterwards the registry holds every package
 * at its version as `latest`, beside what it held before, and git has one tag per publication.
 */
async function release(expected: ReadonlyMap<string, Bump>): Promise<Round> {
  const plan = await rehearsal.workspace.plan()
  const moving = [...plan.values()].filter((planned): planned is PlannedRelease & { type: Bump } => planned.type !== 'none')
  expect(new Map(moving.map((planned) => [planned.name, planned.type]))).toEqual(expected)
  const before = versionsNow()
  const documentsBefore = await rehearsal.documents(names)
  const tagsBefore = await rehearsal.workspace.tags()

  await rehearsal.workspace.version()
  versions = versionsNow()
  for (const name of names) {
    const bump = expected.get(name)
    const was = before.get(name) ?? ''
    expect(versions.get(name), name).toBe(bump === undefined ? was : nextVersion(was, bump))
  }
  const released = names.filter((name) => versions.get(name) !== before.get(name))
  const published = names.filter((name) => documentsBefore.get(name)?.versions[versions.get(name) ?? ''] === undefined)

  await rehearsal.workspace.publish()
  const documentsAfter = await rehearsal.documents(names)
  for (const name of names) {
    const was = Object.keys(documentsBefore.get(name)?.versions ?? {})
    const now = documentsAfter.get(name)
    const version = versions.get(name) ?? ''
    expect(now?.['dist-tags'].latest, `${name} latest`).toBe(version)
    expect(Object.keys(now?.versions ?? {}).sort(), `${name} versions`).toEqual([...new Set([...was, version])].sort())
  }
  const newTags = (await rehearsal.workspace.tags()).filter((tag) => !tagsBefore.includes(tag))
  expect(newTags.sort()).toEqual(published.map((name) => `${name}@${versions.get(name)}`).sort())
  return { released, published }
}

beforeAll(async () => {
  rehearsal = await Rehearsal.start()
}, 300_000)

afterAll(async () => {
  await rehearsal?.stop()
})

describe('the first release: every pending changeset', () => {
  it('version-packages gives each package the version its changesets give and changeset publish puts every package on the empty registry', async () => {
    // Each package's largest pending bump, and a patch for every dependent whose framing range
    // the new framing leaves.
    const bumps = rehearsal.workspace.pendingBumps()
    const framing = versionsNow().get(FRAMING) ?? ''
    const framingBump = bumps.get(FRAMING)
    if (framingBump !== undefined && !caretAdmits(framing, nextVersion(framing, framingBump))) {
      for (const pkg of dependents) if (!bumps.has(pkg.manifest.name)) bumps.set(pkg.manifest.name, 'patch')
    }
    const { published } = await release(bumps)
    expect(published).toEqual(names)
  })

  it('every dependent publishes a real range, ^<framing version>, for framing', async () => {
    for (const pkg of dependents) {
      expect((await publishedVersion(pkg.manifest.name)).dependencies?.[FRAMING], pkg.manifest.name).toBe(`^${versions.get(FRAMING)}`)
    }
  })
})

describe.each(packages)('$manifest.name from the registry', (pkg) => {
  const name = pkg.manifest.name

  it('installs into a fresh project with only framing and its allowed dependency tree, @proto from the local registry', async () => {
    const project = rehearsal.project(pkg.short)
    projects.set(pkg.short, project)
    expectOk(await project.npm('install', [name]))
    expectOk(await project.installedTree(pkg.short))
    expect(installed(await project.tree(), name)).toEqual([versions.get(name)])
  })

  it('carries dist, types, README and the repository LICENSE, and nothing unshippable', () => {
    expectOk(firstRoundProject(pkg.short).contents(name))
  })

  it('publishes a package.json with every field users read, real ranges and no development dependency', () => {
    expectOk(firstRoundProject(pkg.short).manifest(name, pkg.manifest))
  })

  it('loads every exports subpath through import and require()', async () => {
    expectOk(await firstRoundProject(pkg.short).imports(name))
  })

  if (pkg.manifest.bin !== undefined) {
    it('runs its bin with --help', async () => {
      expectOk(await firstRoundProject(pkg.short).bins(name))
    })
  }
})

describe(`a patch to ${lone.manifest.name} alone`, () => {
  let framing = ''

  it(`releases ${lone.manifest.name} only: framing and every other package keep their versions`, async () => {
    framing = versions.get(FRAMING) ?? ''
    rehearsal.workspace.addChangeset('rehearsal-lone-patch', { [lone.manifest.name]: 'patch' }, 'A fix.')
    const round = await release(new Map([[lone.manifest.name, 'patch']]))
    expect(round).toEqual({ released: [lone.manifest.name], published: [lone.manifest.name] })
  })

  it('reaches a fresh install, with the same framing', async () => {
    const project = rehearsal.project(`${lone.short}-patched`)
    expectOk(await project.npm('install', [lone.manifest.name]))
    expectOk(await project.installedTree(lone.short))
    const tree = await project.tree()
    expect(installed(tree, lone.manifest.name)).toEqual([versions.get(lone.manifest.name)])
    expect(installed(tree, FRAMING)).toEqual([framing])
  })
})

describe('a framing patch', () => {
  it('releases framing alone: the new version is inside the range every dependent publishes', async () => {
    const before = versions.get(FRAMING) ?? ''
    rehearsal.workspace.addChangeset('rehearsal-framing-patch', { [FRAMING]: 'patch' }, 'A fix.')
    const round = await release(new Map([[FRAMING, 'patch']]))
    expect(round).toEqual({ released: [FRAMING], published: [FRAMING] })
    expect(caretAdmits(before, versions.get(FRAMING) ?? '')).toBe(true)
  })

  it(`reaches an app that installed ${app.manifest.name} earlier through npm update, ${app.manifest.name} unchanged`, async () => {
    const project = firstRoundProject(app.short)
    const appVersions = installed(await project.tree(), app.manifest.name)
    expectOk(await project.npm('update', []))
    const tree = await project.tree()
    expect(installed(tree, app.manifest.name)).toEqual(appVersions)
    expect(installed(tree, FRAMING)).toEqual([versions.get(FRAMING)])
  })
})

describe('a framing minor', () => {
  let framing = ''

  it('gives every dependent whose range it leaves (all of them, below 1.0) a patch release depending on it', async () => {
    framing = versions.get(FRAMING) ?? ''
    const next = nextVersion(framing, 'minor')
    const bumped = caretAdmits(framing, next) ? [] : dependents.map((pkg) => pkg.manifest.name)
    rehearsal.workspace.addChangeset('rehearsal-framing-minor', { [FRAMING]: 'minor' }, 'A feature.')
    const round = await release(new Map<string, Bump>([[FRAMING, 'minor'], ...bumped.map((name): [string, Bump] => [name, 'patch'])]))
    expect(round.published.sort()).toEqual([FRAMING, ...bumped].sort())
    for (const name of bumped) expect((await publishedVersion(name)).dependencies?.[FRAMING], name).toBe(`^${next}`)
  })

  it(`reaches an app that installed ${app.manifest.name} earlier once it updates to ${app.manifest.name}'s new release`, async () => {
    const project = firstRoundProject(app.short)
    expect(installed(await project.tree(), FRAMING)).toEqual([framing])
    expectOk(await project.npm('update', []))
    const tree = await project.tree()
    expect(installed(tree, app.manifest.name)).toEqual([versions.get(app.manifest.name)])
    expect(installed(tree, FRAMING)).toEqual([versions.get(FRAMING)])
    expectOk(await project.installedTree(app.short))
  })
})

describe('a release of broken packages', () => {
  const loneName = lone.manifest.name
  const appName = app.manifest.name

  it(`publishes ${loneName} without dist/ and with an altered LICENSE, and ${appName} exporting a missing file and depending on a development tool`, async () => {
    const { workspace } = rehearsal
    workspace.editManifest(lone.short, (manifest) => {
      manifest.files = (manifest.files ?? []).filter((entry) => entry !== 'dist')
    })
    appendFileSync(join(workspace.dir, 'packages', lone.short, 'LICENSE'), '\nExcept on Tuesdays.\n')
    workspace.editManifest(app.short, (manifest) => {
      manifest.exports = { ...manifest.exports, '.': { types: './dist/index.d.ts', default: './dist/missing.js' } }
      manifest.dependencies = { ...manifest.dependencies, 'fast-check': manifest.devDependencies?.['fast-check'] ?? '' }
    })
    workspace.addChangeset('rehearsal-broken', { [loneName]: 'patch', [appName]: 'patch' }, 'Broken.')
    const round = await release(new Map([[loneName, 'patch'], [appName, 'patch']]))
    expect(round.published.sort()).toEqual([loneName, appName].sort())
  })

  it(`fails ${loneName}: its tarball lacks the built files and has another LICENSE, nothing loads, its bin fails`, async () => {
    const project = rehearsal.project(`${lone.short}-broken`)
    expectOk(await project.npm('install', [loneName]))
    expectOk(await project.installedTree(lone.short))
    const contents = project.contents(loneName)
    expect(contents.ok).toBe(false)
    expect(contents.detail).toContain('LICENSE differs from the repository LICENSE')
    expect(contents.detail).toContain('types target dist/index.d.ts is not in the tarball')
    expect(contents.detail).toContain('target dist/index.js is not in the tarball')
    const imports = await project.imports(loneName)
    expect(imports.ok).toBe(false)
    expect(imports.detail).toMatch(/^import: exit 1\n/)
    expect(imports.detail).toMatch(/\nrequire: exit 1\n/)
    expect((await project.bins(loneName)).ok).toBe(false)
  })

  it(`fails ${appName}: its main export names a missing file, so nothing loads, and it brings a development tool along`, async () => {
    const project = rehearsal.project(`${app.short}-broken`)
    expectOk(await project.npm('install', [appName]))
    expect(await project.installedTree(app.short)).toEqual({ ok: false, detail: `${appName} > fast-check is installed` })
    expect(project.manifest(appName, rehearsal.workspace.package(app.short).manifest)).toEqual({
      ok: false,
      detail: 'development dependency fast-check is among the dependencies',
    })
    const contents = project.contents(appName)
    expect(contents).toEqual({ ok: false, detail: 'target dist/missing.js is not in the tarball' })
    const imports = await project.imports(appName)
    expect(imports.ok).toBe(false)
    expect(imports.detail).toContain('dist/missing.js')
    expectOk(await project.bins(appName))
  })
})
