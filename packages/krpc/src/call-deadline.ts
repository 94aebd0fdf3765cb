// What stops one client call: the caller's signal, or its deadline on the client's scheduler.
import { guardCall } from '@proto/framing/errors'
import type { CallGuard as FramingGuard, CallOptions, DeadlineScheduler } from '@proto/framing/errors'
import { KrpcTimeoutError } from './errors.ts'

/**
 * The signal and deadline of one call, until `stopTimer` (a binary reply's headers: from then on
 * only the signal ends its body). The deadline is an entry of the client's `DeadlineScheduler`,
 * so a call costs no timer, and a plain callback rather than an AbortController per call: small
 * calls are the hot path.
 */
export class CallGuard {
  #stopped = false
  #reason: unknown
  #onStop: ((reason: unknown) => void) | undefined
  #guard: FramingGuard | undefined
  readonly #signal: AbortSignal | undefined
  #onAbort: (() => void) | undefined

  /**
   * Watches `opts.signal` and `opts.timeout` (`defaultTimeout` when it has none). A signal
   * already aborted, or a timeout of 0, stops the call at once.
   * @param what what times out, for the message: `call 'echo'`
   */
  constructor(scheduler: DeadlineScheduler, opts: CallOptions, defaultTimeout: number, what: string) {
    this.#signal = opts.signal ?? undefined
    try {
      this.#guard = guardCall(scheduler, opts, defaultTimeout, (reason) => this.stop(reason),
        (timeout) => new KrpcTimeoutError(what, timeout))
    } catch (err) {
      this.stop(err)
    }
  }

  /** Stops the call with `reason`, as its signal or deadline would; only the first reason counts. */
  stop(reason: unknown): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#reason = reason
    this.dispose()
    this.#onStop?.(reason)
  }

  get stopped(): boolean {
    return this.#stopped
  }

  get reason(): unknown {
    return this.#reason
  }

  /** `stop` is called once, at once if the call is already stopped. */
  onStop(stop: (reason: unknown) => void): void {
    this.#onStop = stop
    if (this.#stopped) stop(this.#reason)
  }

  /** The deadline ends here; the caller's signal still stops what follows. */
  stopTimer(): void {
    const guard = this.#guard
    if (guard === undefined || this.#stopped) return
    this.#guard = undefined
    guard.release()
    const signal = this.#signal
    if (signal === undefined) return
    this.#onAbort = () => this.stop(signal.reason)
    signal.addEventListener('abort', this.#onAbort, { once: true })
  }

  /** Stops watching. */
  dispose(): void {
    this.#guard?.release()
    this.#guard = undefined
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort)
  }
}
