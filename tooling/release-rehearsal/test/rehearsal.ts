// One rehearsal's world: a scratch directory under the OS temp dir holding a local registry, a
// copy of the workspace that publishes to it, an npm cache, and the projects that install from it.
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { expect } from 'vitest'
import { publishedPackages, root } from '../../scripts/published-packages.mjs'
import { InstalledProject } from './installed.ts'
import type { Verdict } from './installed.ts'
import { LocalRegistry } from './registry.ts'
import type { Packument } from './registry.ts'
import { ScratchWorkspace } from './workspace.ts'

/** Fails the test with the verdict's detail unless it passed. */
export function expectOk(verdict: Verdict): void {
  expect(verdict.ok, verdict.detail).toBe(true)
}

/** Whether `^base` admits `version` (plain x.y.z versions), as npm reads a caret range. */
export function caretAdmits(base: string, version: string): boolean {
  const [b, v] = [base, version].map((text) => text.split('.').map(Number)) as [number[], number[]]
  const [bMajor = 0, bMinor = 0, bPatch = 0] = b
  const [vMajor = 0, vMinor = 0, vPatch = 0] = v
  const atLeast = vMajor !== bMajor ? vMajor > bMajor : vMinor !== bMinor ? vMinor > bMinor : vPatch >= bPatch
  if (bMajor > 0) return atLeast && vMajor === bMajor
  if (bMinor > 0) return atLeast && vMajor === 0 && vMinor === bMinor
  return vMajor === 0 && vMinor === 0 && vPatch === bPatch
}

/** The version after `version` that a `bump` gives (plain x.y.z versions), as Changesets computes it. */
export function nextVersion(version: string, bump: 'patch' | 'minor' | 'major'): string {
  const [major = 0, minor = 0, patch = 0] = version.split('.').map(Number)
  if (bump === 'major') return `${major + 1}.0.0`
  if (bump === 'minor') return `${major}.${minor + 1}.0`
  return `${major}.${minor}.${patch + 1}`
}

/** A registry, a workspace copy publishing to it and the projects installing from it; {@link Rehearsal.stop} removes them all. */
export class Rehearsal {
  readonly scratch: string
  readonly registry: LocalRegistry
  readonly workspace: ScratchWorkspace
  readonly #cache: string

  private constructor(scratch: string, registry: LocalRegistry, workspace: ScratchWorkspace) {
    this.scratch = scratch
    this.registry = registry
    this.workspace = workspace
    this.#cache = join(scratch, 'npm-cache')
  }

  /** Starts the registry, registers a publisher and copies the workspace; cleans up if any of it fails. */
  static async start(): Promise<Rehearsal> {
    // The copy publishes the dist/ it finds; without one every tarball would be empty of code.
    const unbuilt = (publishedPackages() as { short: string; dir: string }[]).filter((pkg) => !existsSync(join(pkg.dir, 'dist')))
    if (unbuilt.length > 0) throw new Error(`no dist/ in ${unbuilt.map((pkg) => pkg.short).join(', ')}: build first (pnpm build)`)
    const scratch = realpathSync(mkdtempSync(join(tmpdir(), 'proto-release-')))
    if (!relative(root, scratch).startsWith('..')) throw new Error(`${scratch} is inside the workspace; set TMPDIR elsewhere`)
    let registry: LocalRegistry | undefined
    try {
      registry = await LocalRegistry.start(join(scratch, 'registry'))
      const token = await registry.addUser('publisher')
      const workspace = await ScratchWorkspace.create(scratch, registry.url, [registry.scopeConfig, token])
      return new Rehearsal(scratch, registry, workspace)
    } catch (err) {
      await registry?.stop()
      rmSync(scratch, { recursive: true, force: true })
      throw err
    }
  }

  /** A new project that installs @proto packages from the registry and the rest as the user's npm does. */
  project(label: string): InstalledProject {
    const parent = join(this.scratch, 'projects')
    mkdirSync(parent, { recursive: true })
    return new InstalledProject(`${label}-`, parent, this.registry.url, this.#cache)
  }

  /** The registry's document for every package named, by name. */
  async documents(names: readonly string[]): Promise<Map<string, Packument | undefined>> {
    return new Map(await Promise.all(names.map(async (name) => [name, await this.registry.packument(name)] as const)))
  }

  /** Stops the registry by its PID and deletes the scratch directory. */
  async stop(): Promise<void> {
    try {
      await this.registry.stop()
    } finally {
      rmSync(this.scratch, { recursive: true, force: true })
    }
  }
}
