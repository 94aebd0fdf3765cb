// A package installed from the registry into a fresh project, as `npm i <name>` gives it to a
// user, and the checks on it. Each check returns a verdict instead of throwing, so the rehearsal
// can demand success of a good release and failure of a broken one.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import {
  checkContents,
  checkImports,
  checkTree,
  describeExit,
  freshProject,
  outputOf,
  run,
} from '../../scripts/installed-package.mjs'
import { root } from '../../scripts/published-packages.mjs'
import type { Manifest } from './workspace.ts'

const INSTALL_TIMEOUT_MS = 300_000
// What a user reads in the published package.json before installing (item by item on npm's
// page), and what tools read after.
const REQUIRED_FIELDS = ['description', 'keywords', 'license', 'engines', 'type', 'exports', 'types', 'files', 'sideEffects']
// Lifecycle scripts npm runs on the user's machine at install time.
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare']

/** One check's outcome: `detail` says what was seen, or every problem found. */
export interface Verdict {
  readonly ok: boolean
  readonly detail: string
}

/** `npm ls --json` output, as far as the rehearsal reads it. */
export interface Tree {
  readonly version?: string
  readonly resolved?: string
  readonly dependencies?: Record<string, Tree>
}

const problemsVerdict = (problems: readonly string[], passed: string): Verdict =>
  problems.length === 0 ? { ok: true, detail: passed } : { ok: false, detail: problems.join('\n') }

/** A fresh project outside the workspace that installs @proto packages from one registry. */
export class InstalledProject {
  /** The project directory. */
  readonly dir: string
  readonly #registryUrl: string
  readonly #cache: string
  // The last `npm ls`, until npm changes the project again.
  #tree: Tree | undefined

  /**
   * Creates the project in a new directory under `parent` with an .npmrc that sends only the
   * @proto scope to `registryUrl`: everything else comes from the registry the user's npm is
   * configured with. `cache` is an npm cache directory the rehearsal owns.
   */
  constructor(prefix: string, parent: string, registryUrl: string, cache: string) {
    this.dir = freshProject(prefix, parent)
    this.#registryUrl = registryUrl
    this.#cache = cache
    writeFileSync(join(this.dir, '.npmrc'), `@proto:registry=${registryUrl}\n`)
  }

  /**
   * Runs `npm <command> <args>` in the project. Packuments are always revalidated, so a version
   * published a moment ago is seen; install scripts do not run (ours have none, which
   * {@link InstalledProject.manifest} checks, and ssh2's optional native addon would only cost
   * time); resolved URLs are recorded whatever the user's npm config says, so the tree shows
   * where each package came from.
   */
  async npm(command: 'install' | 'update', args: readonly string[]): Promise<Verdict> {
    const result = await run(
      'npm',
      [
        command,
        '--no-audit',
        '--no-fund',
        '--prefer-online',
        '--ignore-scripts',
        '--omit-lockfile-registry-resolved=false',
        `--cache=${this.#cache}`,
        ...args,
      ],
      this.dir,
      INSTALL_TIMEOUT_MS,
    )
    this.#tree = undefined
    const ok = result.code === 0
    return { ok, detail: ok ? `npm ${command} ${args.join(' ')}` : `npm ${command} ${args.join(' ')}: ${describeExit(result)}\n${outputOf(result)}` }
  }

  /** `npm ls --all --json` of the project's runtime dependencies. */
  async tree(): Promise<Tree> {
    if (this.#tree === undefined) {
      const result = await run('npm', ['ls', '--all', '--omit=dev', '--json'], this.dir)
      if (result.code !== 0) throw new Error(`npm ls: ${describeExit(result)}\n${outputOf(result)}`)
      this.#tree = JSON.parse(result.stdout) as Tree
    }
    return this.#tree
  }

  /** The package.json of the installed package `name`, exactly as it was published. */
  manifestOf(name: string): Manifest {
    return JSON.parse(readFileSync(join(this.dir, 'node_modules', name, 'package.json'), 'utf8')) as Manifest
  }

  /** Only `short`, framing and the one allowed third-party tree are installed, @proto from this registry alone. */
  async installedTree(short: string): Promise<Verdict> {
    return checkTree(await this.tree(), short, this.#registryUrl)
  }

  /**
   * The published files of `name`: nothing unshippable, every `exports` and `bin` target with
   * its types, the README (and PROTOCOL.md, but for framing), and a LICENSE identical to the
   * repository's.
   */
  contents(name: string): Verdict {
    const dir = join(this.dir, 'node_modules', name)
    const files = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
      .sort()
    const verdict = checkContents(files, this.manifestOf(name)) as Verdict
    const license = join(dir, 'LICENSE')
    if (existsSync(license) && readFileSync(license, 'utf8') !== readFileSync(join(root, 'LICENSE'), 'utf8')) {
      return { ok: false, detail: verdict.ok ? 'LICENSE differs from the repository LICENSE' : `${verdict.detail}\nLICENSE differs from the repository LICENSE` }
    }
    return verdict
  }

  /**
   * The published package.json of `name` against the workspace's `source`: every field a user
   * relies on, no install scripts, real ranges in place of `workspace:` and `catalog:`, and the
   * runtime dependencies of the workspace and nothing else (no development dependency among them).
   */
  manifest(name: string, source: Manifest): Verdict {
    const published = this.manifestOf(name)
    const problems: string[] = []
    for (const field of REQUIRED_FIELDS) if (published[field] === undefined) problems.push(`no \`${field}\``)
    const scripts = (published.scripts ?? {}) as Record<string, string>
    for (const script of INSTALL_SCRIPTS) if (scripts[script] !== undefined) problems.push(`an install-time \`${script}\` script`)
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies', 'devDependencies']) {
      for (const [dep, range] of Object.entries((published[field] ?? {}) as Record<string, string>)) {
        if (/^(workspace|catalog):/.test(range)) problems.push(`${field}.${dep} is still ${range}`)
      }
    }
    const runtime = Object.keys(published.dependencies ?? {}).sort()
    const expected = Object.keys(source.dependencies ?? {}).sort()
    if (runtime.join() !== expected.join()) problems.push(`dependencies are ${runtime.join(', ') || 'none'}; the workspace has ${expected.join(', ') || 'none'}`)
    for (const dep of runtime) {
      if (source.devDependencies?.[dep] !== undefined) problems.push(`development dependency ${dep} is among the dependencies`)
    }
    return problemsVerdict(problems, `${REQUIRED_FIELDS.length} fields present; dependencies ${JSON.stringify(published.dependencies ?? {})}`)
  }

  /** Every `exports` subpath of `name` loads through `import` and through `require()`. */
  imports(name: string): Promise<Verdict> {
    return checkImports(this.dir, this.manifestOf(name))
  }

  /** Every bin of `name` runs from node_modules/.bin and answers `--help` with its usage. */
  async bins(name: string): Promise<Verdict> {
    const { bin } = this.manifestOf(name)
    const names = typeof bin === 'string' ? [name.replace(/^@[^/]+\//, '')] : Object.keys(bin ?? {})
    const problems: string[] = []
    const seen: string[] = []
    for (const command of names) {
      const path = join(this.dir, 'node_modules', '.bin', command)
      if (!existsSync(path)) {
        problems.push(`node_modules/.bin/${command} was not installed`)
        continue
      }
      const result = await run(path, ['--help'], this.dir)
      if (result.code !== 0 || !result.stdout.includes(command)) {
        problems.push(`${command} --help: ${describeExit(result)}, expected exit 0 and a usage naming ${command}\n${outputOf(result)}`)
      } else seen.push(`${command} --help: ${result.stdout.trim().split('\n')[0] ?? ''}`)
    }
    return problemsVerdict(problems, seen.join('; ') || 'no bin')
  }
}
