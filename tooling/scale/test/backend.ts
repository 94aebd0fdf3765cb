// A backend process (backends/<protocol>.mjs): its events recorded for the test to await, its
// commands sent on stdin, the process in a group of its own and killed when the test ends.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { PeerInfo } from '@proto/framing'
import { defer } from './cleanup.ts'

/** What a backend may take to raise an awaited event before the test says so. */
export const BACKEND_WAIT = 20_000

/** An event a backend wrote (see backends/kit.mjs). */
export type BackendEvent =
  | { readonly event: 'listening'; readonly port: number }
  | { readonly event: 'request'; readonly id: string; readonly remote: PeerInfo }
  | { readonly event: 'clientError'; readonly code: string; readonly message: string }
  | { readonly event: 'holding' | 'closed' }

export class Backend {
  readonly name: string
  readonly events: BackendEvent[] = []
  /** Resolves when the process has exited, however. */
  readonly exited: Promise<void>
  readonly #child: ChildProcess
  readonly #waiters: (() => boolean)[] = []
  #stderr = ''
  #gone = false

  /** Starts `backends/<program>` as backend `name`, with `env` added to the environment. */
  constructor(program: string, name: string, env: Readonly<Record<string, string>> = {}) {
    this.name = name
    const script = fileURLToPath(new URL(`../backends/${program}`, import.meta.url))
    this.#child = spawn(process.execPath, [script, name], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
    const { stdin, stdout, stderr } = this.#child
    if (stdin === null || stdout === null || stderr === null) throw new Error('spawned without pipes')
    this.exited = new Promise((resolve) => {
      const ended = (): void => {
        this.#gone = true
        this.#wake()
        resolve()
      }
      this.#child.once('exit', ended)
      this.#child.once('error', (err) => {
        this.#stderr += `\n${err.message}`
        if (this.#child.pid === undefined) ended()
      })
    })
    defer(() => this.kill())
    stdin.on('error', (err) => {
      this.#stderr += `\n[stdin] ${err.message}`
    })
    stderr.setEncoding('utf8')
    stderr.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-16_384)
    })
    createInterface({ input: stdout }).on('line', (line) => {
      this.events.push(JSON.parse(line) as BackendEvent)
      this.#wake()
    })
  }

  /** The ids of the requests it accepted, in order, with the peer it was given for each. */
  get accepted(): Map<string, PeerInfo> {
    const accepted = new Map<string, PeerInfo>()
    for (const event of this.events) if (event.event === 'request') accepted.set(event.id, event.remote)
    return accepted
  }

  /** Resolves with the port once it listens. */
  async port(): Promise<number> {
    await this.until((events) => events.some((event) => event.event === 'listening'), 'listening')
    const listening = this.events.find((event) => event.event === 'listening')
    if (listening?.event !== 'listening') throw new Error('unreachable')
    return listening.port
  }

  /** Sends a command (`hold`, `close`). */
  send(command: 'hold' | 'close'): void {
    this.#child.stdin?.write(`${command}\n`)
  }

  /** Resolves once `test(events)` holds; rejects if the process exits first or after BACKEND_WAIT. */
  until(test: (events: readonly BackendEvent[]) => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      // Returns true once settled, and is then dropped from the waiters.
      const check = (): boolean => {
        if (test(this.events)) {
          clearTimeout(timer)
          resolve()
          return true
        }
        if (this.#gone) {
          clearTimeout(timer)
          reject(new Error(`${this.name} exited before ${what} ${this.#tail()}`))
          return true
        }
        return false
      }
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(check), 1)
        reject(new Error(`${this.name}: no ${what} within ${BACKEND_WAIT} ms ${this.#tail()}`))
      }, BACKEND_WAIT)
      if (!check()) this.#waiters.push(check)
    })
  }

  /** Ends the process group at once (a cleanup; a graceful stop is `send('close')`). */
  async kill(): Promise<void> {
    if (this.#gone || this.#child.pid === undefined) return
    process.kill(-this.#child.pid, 'SIGKILL')
    await this.exited
  }

  #wake(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      if (this.#waiters[i]?.() === true) this.#waiters.splice(i, 1)
    }
  }

  #tail(): string {
    return this.#stderr === '' ? '' : `\n${this.name} stderr:\n${this.#stderr}`
  }
}
