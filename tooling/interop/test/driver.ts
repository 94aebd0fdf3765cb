// A Python driver of an original: a process group of its own, commands and replies as JSON
// lines on stdin/stdout (see drivers/channel.py), its events recorded for the test to await.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { delimiter, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { defer } from '@proto/vitest-config/cleanup'
import { interopEnvironment } from './environment.ts'
import type { Protocol } from './environment.ts'

const DRIVERS = fileURLToPath(new URL('drivers', import.meta.url))
/** What a driver may take to answer a command or raise an awaited event, before the test says so. */
export const DRIVER_WAIT = 20_000
/** Enough of a driver's stderr to explain a failure (tracebacks, and the originals' warnings). */
const STDERR_KEPT = 16_384

/** An event a driver wrote: `{ event, ...fields }`. */
export type DriverEvent = { readonly event: string } & Readonly<Record<string, unknown>>

interface Reply {
  readonly id: number
  readonly ok: boolean
  readonly result?: unknown
  readonly error?: string
}

interface Waiter {
  readonly test: (event: DriverEvent) => boolean
  readonly resolve: (event: DriverEvent) => void
}

/** How a driver process ended. */
export interface DriverExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export class Driver {
  readonly name: string
  /** Resolves when the process has exited, however. */
  readonly exited: Promise<DriverExit>
  readonly #child: ChildProcess
  readonly #events: DriverEvent[] = []
  readonly #waiters: Waiter[] = []
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>()
  #nextId = 1
  #stderr = ''
  #exit: DriverExit | undefined

  /**
   * Starts `drivers/<script>` with the original of `protocol` first on its path. Python runs
   * with -B and PYTHONDONTWRITEBYTECODE, so nothing is written next to the originals. The
   * process leads a group of its own: `kill()` ends it with whatever it forked, and the test's
   * cleanup calls `kill()` whether the test passed or not.
   */
  constructor(protocol: Protocol, script: string, args: readonly string[] = [], env: Readonly<Record<string, string>> = {}) {
    const { python, originals } = interopEnvironment()
    this.name = script
    this.#child = spawn(python, ['-B', join(DRIVERS, script), ...args], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PYTHONPATH: [join(originals, protocol), process.env['PYTHONPATH']].filter(Boolean).join(delimiter),
        PYTHONDONTWRITEBYTECODE: '1',
        PYTHONUNBUFFERED: '1',
        ...env,
      },
    })
    defer(() => this.kill())
    const { stdin, stdout, stderr } = this.#child
    if (stdin === null || stdout === null || stderr === null) throw new Error('spawned without pipes')
    this.exited = new Promise((resolve) => {
      const ended = (exit: DriverExit): void => {
        if (this.#exit !== undefined) return
        this.#exit = exit
        const err = new Error(`${this.name} exited (${exit.signal ?? exit.code}) ${this.#tail()}`)
        for (const { reject } of this.#pending.values()) reject(err)
        this.#pending.clear()
        resolve(exit)
      }
      this.#child.once('exit', (code, signal) => ended({ code, signal }))
      // A process that could not be started has no 'exit'.
      this.#child.once('error', (err) => {
        this.#stderr += `\n${err.message}`
        if (this.#child.pid === undefined) ended({ code: null, signal: null })
      })
    })
    // A write to a driver that has gone fails pending calls through 'exit'; the reason is kept.
    stdin.on('error', (err) => {
      this.#stderr += `\n[stdin] ${err.message}`
    })
    stderr.setEncoding('utf8')
    stderr.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_KEPT)
    })
    createInterface({ input: stdout }).on('line', (line) => this.#receive(line))
  }

  /** Everything the driver wrote on stderr so far (its last 16 KiB). */
  get stderr(): string {
    return this.#stderr
  }

  /** Every event so far, in order. */
  get events(): readonly DriverEvent[] {
    return this.#events
  }

  /** Sends a command and resolves with its result; rejects with the driver's error. */
  call<T = unknown>(op: string, args: Readonly<Record<string, unknown>> = {}, timeout = DRIVER_WAIT): Promise<T> {
    if (this.#exit !== undefined) return Promise.reject(new Error(`${this.name} has exited ${this.#tail()}`))
    const id = this.#nextId++
    return this.#bounded(
      new Promise<T>((resolve, reject) => {
        this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
        this.#child.stdin?.write(`${JSON.stringify({ id, op, args })}\n`)
      }),
      timeout,
      `${op} ${JSON.stringify(args).slice(0, 200)}`,
    )
  }

  /** Resolves with the first event, already seen or still to come, named `name` that passes `test`. */
  event(name: string, test: (event: DriverEvent) => boolean = () => true, timeout = DRIVER_WAIT): Promise<DriverEvent> {
    const match = (event: DriverEvent): boolean => event.event === name && test(event)
    const seen = this.#events.find(match)
    if (seen !== undefined) return Promise.resolve(seen)
    return this.#bounded(new Promise((resolve) => this.#waiters.push({ test: match, resolve })), timeout, `event ${name}`)
  }

  /** The events named `name` seen so far. */
  seen(name: string): DriverEvent[] {
    return this.#events.filter((event) => event.event === name)
  }

  /** Ends the process group at once and resolves once the driver has exited. */
  async kill(): Promise<void> {
    if (this.#exit === undefined && this.#child.pid !== undefined) {
      try {
        process.kill(-this.#child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    await this.exited
  }

  #receive(line: string): void {
    let message: Reply | DriverEvent
    try {
      message = JSON.parse(line) as Reply | DriverEvent
    } catch {
      // An original printing to stdout: kept with stderr so a failure shows it.
      this.#stderr = (this.#stderr + `\n[stdout] ${line}`).slice(-STDERR_KEPT)
      return
    }
    if ('event' in message && typeof message.event === 'string') {
      const event = message
      this.#events.push(event)
      for (const waiter of [...this.#waiters]) {
        if (waiter.test(event)) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
          waiter.resolve(event)
        }
      }
      return
    }
    const reply = message as Reply
    const pending = this.#pending.get(reply.id)
    if (pending === undefined) return
    this.#pending.delete(reply.id)
    if (reply.ok) pending.resolve(reply.result)
    else pending.reject(new Error(`${this.name}: ${reply.error ?? 'failed'}`))
  }

  #bounded<T>(promise: Promise<T>, timeout: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name}: no answer to ${what} within ${timeout} ms ${this.#tail()}`)), timeout)
    })
    return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
  }

  #tail(): string {
    const text = this.#stderr.trim()
    return text === '' ? '(no stderr)' : `\n--- ${this.name} stderr ---\n${text.slice(-4_000)}`
  }
}

/** Starts a driver and resolves once it has written `event` (`listening`, `connected` …). */
export async function startDriver(
  protocol: Protocol,
  script: string,
  args: readonly string[],
  event: string,
  env: Readonly<Record<string, string>> = {},
): Promise<{ driver: Driver; ready: DriverEvent }> {
  const driver = new Driver(protocol, script, args, env)
  const ready = await Promise.race([
    driver.event(event),
    driver.exited.then((exit) => {
      throw new Error(`${script} exited (${exit.signal ?? exit.code}) before '${event}'\n${driver.stderr}`)
    }),
  ])
  return { driver, ready }
}
