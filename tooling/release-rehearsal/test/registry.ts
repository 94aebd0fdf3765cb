// A throwaway npm registry: Verdaccio on 127.0.0.1 with its own storage, config and users in a
// scratch directory, run as a child process and stopped by its PID.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

const SERVER = fileURLToPath(new URL('../verdaccio-server.mjs', import.meta.url))
const START_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 10_000

/** What the registry says about one version (the fields the rehearsal reads). */
export interface PublishedVersion {
  readonly version: string
  readonly dependencies?: Record<string, string>
  readonly dist: { readonly tarball: string }
}

/** A package document as npm reads it. */
export interface Packument {
  readonly 'dist-tags': Record<string, string>
  readonly versions: Record<string, PublishedVersion>
}

// JSON is YAML, so the config needs no YAML writer. Only the @proto scope exists here, with no
// uplink: anything else is refused, so an install that asked this registry for a third-party
// package fails instead of quietly getting it.
function config(dir: string): string {
  return JSON.stringify(
    {
      storage: join(dir, 'storage'),
      // The publishing token carries the password, which Verdaccio checks on every request it
      // comes with; bcrypt's fewest rounds keep that from costing a third of a second each time.
      auth: { htpasswd: { file: join(dir, 'htpasswd'), max_users: 1, rounds: 4 } },
      uplinks: {},
      packages: { '@proto/*': { access: '$all', publish: '$authenticated', unpublish: '$authenticated' } },
      web: { enabled: false },
      middlewares: { audit: { enabled: false } },
      log: { type: 'stdout', format: 'pretty', level: 'warn' },
    },
    null,
    2,
  )
}

/** Verdaccio in a child process; {@link LocalRegistry.start} it, then {@link LocalRegistry.stop} it. */
export class LocalRegistry {
  /** The registry's base URL, ending in `/`. */
  readonly url: string
  readonly #child: ChildProcess
  readonly #pid: number
  #output: string

  private constructor(child: ChildProcess, pid: number, url: string, output: string) {
    this.#child = child
    this.#pid = pid
    this.url = url
    this.#output = output
    child.stdout?.on('data', (chunk: Buffer) => (this.#output += chunk.toString()))
    child.stderr?.on('data', (chunk: Buffer) => (this.#output += chunk.toString()))
  }

  /** Writes a config into `dir` (created if missing) and starts Verdaccio on it. */
  static async start(dir: string): Promise<LocalRegistry> {
    mkdirSync(dir, { recursive: true })
    const configFile = join(dir, 'config.yaml')
    writeFileSync(configFile, config(dir))
    const child = spawn(process.execPath, [SERVER, configFile], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] })
    if (child.pid === undefined) throw new Error('Verdaccio did not start')
    const pid = child.pid
    let output = ''
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "listening" line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
        const onData = (chunk: Buffer): void => {
          output += chunk.toString()
          const match = /^listening (http:\/\/\S+)$/m.exec(output)
          if (match?.[1] === undefined) return
          clearTimeout(timer)
          child.stdout.off('data', onData)
          resolve(match[1])
        }
        child.stdout.on('data', onData)
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
        child.on('exit', (code, signal) => {
          clearTimeout(timer)
          reject(new Error(`Verdaccio exited before listening (${signal ?? `exit ${code}`})`))
        })
      })
      return new LocalRegistry(child, pid, url, output)
    } catch (err) {
      process.kill(pid, 'SIGKILL')
      throw new Error(`${(err as Error).message}\n${output}`)
    }
  }

  /** The scope line a user's .npmrc needs to install @proto packages from here. */
  get scopeConfig(): string {
    return `@proto:registry=${this.url}`
  }

  /** Registers a user (as `npm adduser` does) and returns the .npmrc line holding its token. */
  async addUser(name: string): Promise<string> {
    const response = await fetch(new URL(`-/user/org.couchdb.user:${encodeURIComponent(name)}`, this.url), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password: `${name}-${process.pid}-${Date.now()}` }),
    })
    const body = (await response.json()) as { token?: string }
    if (!response.ok || body.token === undefined) throw new Error(`adding user ${name}: HTTP ${response.status} ${JSON.stringify(body)}`)
    return `${this.url.replace(/^https?:/, '')}:_authToken=${body.token}`
  }

  /** The package document for `name`, or undefined when the registry has never seen it. */
  async packument(name: string): Promise<Packument | undefined> {
    const response = await fetch(new URL(name.replace('/', '%2f'), this.url), { headers: { accept: 'application/json' } })
    if (response.status === 404) return undefined
    if (!response.ok) throw new Error(`GET ${name}: HTTP ${response.status}`)
    return (await response.json()) as Packument
  }

  /** Everything Verdaccio has printed (warnings and errors only), for failure reports. */
  get output(): string {
    return this.#output
  }

  /** Stops the registry by its PID: SIGTERM, then SIGKILL if it has not exited in time. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    const exited = once(this.#child, 'exit')
    process.kill(this.#pid, 'SIGTERM')
    const timer = setTimeout(() => process.kill(this.#pid, 'SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }
}
