// A scratch copy of this workspace that releases the way CONTRIBUTING.md says: its own git
// history, pending changesets, `pnpm version-packages`, then `changeset publish` to a registry.
import { appendFileSync, cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import process from 'node:process'
import { cleanEnv, describeExit, outputOf, run } from '../../scripts/installed-package.mjs'
import { publishedPackages, root } from '../../scripts/published-packages.mjs'

const PNPM = ['-y', 'pnpm@10.34.9']
const COMMAND_TIMEOUT_MS = 300_000
// Machine-local state that a clean clone does not have; dist/ is copied, so the copy
// publishes what was built.
const NOT_COPIED = new Set(['node_modules', '.git', '.turbo', '.vitest-results.json', 'coverage'])

/** A bump Changesets understands. */
export type Bump = 'patch' | 'minor' | 'major'

/** One package's line in `changeset status --output`. */
export interface PlannedRelease {
  readonly name: string
  readonly type: Bump | 'none'
  readonly oldVersion: string
  readonly newVersion: string
}

/** A published package of the copy, as `publishedPackages` describes it. */
export interface WorkspacePackage {
  readonly short: string
  readonly dir: string
  readonly manifest: Manifest
}

/** The package.json fields the rehearsal reads or edits. */
export interface Manifest {
  name: string
  version: string
  private?: boolean
  files?: string[]
  exports?: Record<string, unknown>
  bin?: Record<string, string> | string
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  [field: string]: unknown
}

/** A command's outcome, as the shared `run` reports it. */
interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  timedOut?: number
  stdout: string
  stderr: string
}

/** A copy of the workspace under `dir`, installed from the pnpm store and committed to a fresh git repository. */
export class ScratchWorkspace {
  readonly dir: string
  readonly #env: NodeJS.ProcessEnv
  readonly #scratch: string

  private constructor(dir: string, scratch: string, registryUrl: string) {
    this.dir = dir
    this.#scratch = scratch
    this.#env = {
      ...cleanEnv,
      // changeset publish asks the registry named here whether a version is out already; left
      // unset, it would ask registry.npmjs.org about the scope.
      'npm_config_@proto:registry': registryUrl,
      // The copy's commits and the tags changeset publish makes must not depend on (or sign
      // with) the machine's git configuration.
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'release rehearsal',
      GIT_AUTHOR_EMAIL: 'rehearsal@localhost',
      GIT_COMMITTER_NAME: 'release rehearsal',
      GIT_COMMITTER_EMAIL: 'rehearsal@localhost',
    }
  }

  /**
   * Copies the workspace to `<scratch>/workspace`, adds `npmrcLines` (the scope and the
   * publish token) to its .npmrc, installs it from the pnpm store (the network only for what
   * the store lacks) and commits it on `main`.
   */
  static async create(scratch: string, registryUrl: string, npmrcLines: readonly string[]): Promise<ScratchWorkspace> {
    const dir = join(scratch, 'workspace')
    cpSync(root, dir, { recursive: true, filter: (source) => !NOT_COPIED.has(basename(source)) })
    appendFileSync(join(dir, '.npmrc'), `${npmrcLines.join('\n')}\n`)
    const workspace = new ScratchWorkspace(dir, scratch, registryUrl)
    await workspace.#must('npx', [...PNPM, 'install', '--prefer-offline', '--frozen-lockfile'])
    // Starting pnpm through npx costs a few seconds each time; the PATH npx gives it names
    // pnpm itself, so later commands (and changeset publish, which runs `pnpm publish`) start
    // it directly.
    const path = await workspace.#must('npx', [...PNPM, 'exec', 'node', '-e', 'process.stdout.write(process.env.PATH)'])
    workspace.#env.PATH = path.stdout
    await workspace.#must('git', ['init', '--quiet', '--initial-branch=main'])
    await workspace.commit('the workspace as it is')
    return workspace
  }

  /** The published packages of the copy, read afresh. */
  packages(): WorkspacePackage[] {
    return publishedPackages(this.dir)
  }

  /** The copy's package `short` (a directory name under packages/). */
  package(short: string): WorkspacePackage {
    const found = this.packages().find((pkg) => pkg.short === short)
    if (found === undefined) throw new Error(`no published package ${short} in the copy`)
    return found
  }

  /** Rewrites a package's package.json in the copy. */
  editManifest(short: string, edit: (manifest: Manifest) => void): void {
    const file = join(this.dir, 'packages', short, 'package.json')
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest
    edit(manifest)
    writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`)
  }

  /** Writes `.changeset/<id>.md` as `pnpm changeset` would. */
  addChangeset(id: string, releases: Readonly<Record<string, Bump>>, summary: string): void {
    const lines = Object.entries(releases).map(([name, bump]) => `'${name}': ${bump}`)
    writeFileSync(join(this.dir, '.changeset', `${id}.md`), `---\n${lines.join('\n')}\n---\n\n${summary}\n`)
  }

  /**
   * The largest bump each pending changeset names per package, read from the files themselves:
   * what a release must move, before Changesets adds the dependents it has to.
   */
  pendingBumps(): Map<string, Bump> {
    const order: readonly Bump[] = ['patch', 'minor', 'major']
    const bumps = new Map<string, Bump>()
    const dir = join(this.dir, '.changeset')
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.md') && name !== 'README.md')) {
      const frontMatter = /^---\r?\n([\s\S]*?)\r?\n---/.exec(readFileSync(join(dir, file), 'utf8'))?.[1] ?? ''
      for (const [, name = '', bump] of frontMatter.matchAll(/^\s*['"]?([^'":\s]+)['"]?\s*:\s*(patch|minor|major)\s*$/gm)) {
        const was = bumps.get(name)
        if (was === undefined || order.indexOf(bump as Bump) > order.indexOf(was)) bumps.set(name, bump as Bump)
      }
    }
    return bumps
  }

  /** The release plan of the pending changesets (`changeset status --output`), by package name. */
  async plan(): Promise<Map<string, PlannedRelease>> {
    const file = join(this.#scratch, 'release-plan.json')
    await this.#changeset(['status', `--output=${file}`])
    const plan = JSON.parse(readFileSync(file, 'utf8')) as { releases: PlannedRelease[] }
    return new Map(plan.releases.map((release) => [release.name, release]))
  }

  /** `pnpm version-packages`, then a commit of what it changed. */
  async version(): Promise<void> {
    await this.#must('pnpm', ['version-packages'])
    await this.commit('version packages')
  }

  /** `changeset publish`, as `pnpm release` ends. */
  async publish(): Promise<void> {
    await this.#changeset(['publish'])
  }

  /** Every git tag of the copy. */
  async tags(): Promise<string[]> {
    const result = await this.#must('git', ['tag', '--list'])
    return result.stdout.split('\n').filter(Boolean)
  }

  /** Commits everything in the copy. */
  async commit(message: string): Promise<void> {
    await this.#must('git', ['add', '--all'])
    await this.#must('git', ['commit', '--quiet', '--allow-empty', '--message', message])
  }

  // Changesets' own bin, without a pnpm start in front; pnpm stays on PATH for `pnpm publish`.
  #changeset(args: string[]): Promise<RunResult> {
    return this.#must(process.execPath, [join(this.dir, 'node_modules/@changesets/cli/bin.js'), ...args])
  }

  async #must(command: string, args: string[]): Promise<RunResult> {
    const result = await run(command, args, this.dir, COMMAND_TIMEOUT_MS, this.#env)
    if (result.code !== 0) throw new Error(`${command} ${args.join(' ')}: ${describeExit(result)}\n${outputOf(result)}`)
    return result
  }
}
