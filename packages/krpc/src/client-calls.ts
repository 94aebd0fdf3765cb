// What the Node and browser clients share around their calls: the checks each starts with, the calls and binary replies in flight, and the `close()` that waits for them. No `node:` module and no Buffer here.
import { DeadlineScheduler, UsageError } from '@proto/framing/errors'
import { CallGuard } from './call-deadline.ts'
import { checkCallOptions, checkVia } from './client-options.ts'
import type { ClientSettings } from './client-options.ts'
import { KrpcClosedError } from './errors.ts'
import { prepareCall } from './prepare.ts'
import type { PreparedCall } from './prepare.ts'
import type { KrpcCallOptions } from './types.ts'

/** The options of a call given none: being the client's own, they need no check. */
export const NO_OPTIONS: KrpcCallOptions = Object.freeze({})

/** A binary result as a client's `close()` sees it. */
export interface OpenBinary {
  /** Its body has been handed to the caller. */
  readonly taken: boolean
  /** Settles once the body is read, cancelled or failed. */
  readonly finished: Promise<void>
  cancel(): Promise<void>
}

/** A call checked and in flight: what it sends, and the guard that stops it. */
export interface StartedCall<F> extends PreparedCall<F> {
  readonly via: 'post' | 'get'
  readonly guard: CallGuard
}

/**
 * A client's calls from start to end, and its `close()`: that waits for the calls in flight,
 * then for the binary results still being read, then releases what the client holds.
 */
export class ClientCalls {
  readonly closed: Promise<void>
  readonly #settings: ClientSettings
  readonly #release: () => void
  readonly #deadlines = new DeadlineScheduler()
  /** The guard of each call in flight. */
  readonly #calls = new Set<CallGuard>()
  /** Each binary result still open, with the guard that still watches its call's signal. */
  readonly #binaries = new Map<OpenBinary, CallGuard>()
  #idle: (() => void) | undefined
  #closing: Promise<void> | undefined
  #resolveClosed: () => void = () => {}

  /** @param release frees what the client holds (its connections), once every call has ended */
  constructor(settings: ClientSettings, release: () => void = () => {}) {
    this.#settings = settings
    this.#release = release
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve
    })
  }

  /**
   * `method` with `params` checked and made into call text and file parts, then counted in
   * flight with a guard on `opts.signal` and the call's deadline; `ended` or `endedInBinary`
   * ends it.
   * @throws {KrpcClosedError} once `close()` has been called
   * @throws {UsageError} for a bad call option, or files with `via: 'get'`
   * @throws {KrpcUnserializableError} for params or pmhparams that are not plain data
   */
  start<F>(method: string, params: unknown, opts: KrpcCallOptions, isFile: (value: unknown) => value is F): StartedCall<F> {
    if (this.#closing !== undefined) throw new KrpcClosedError('the client is closed')
    const settings = this.#settings
    if (opts !== NO_OPTIONS) checkCallOptions(opts)
    const via = checkVia(opts.via ?? settings.via)
    const { text, files } = prepareCall(method, params, opts.pmhparams ?? settings.pmhparams, opts.files, isFile)
    if (via === 'get' && files.length > 0) throw new UsageError("files cannot be sent with via: 'get'")
    const guard = new CallGuard(this.#deadlines, opts, settings.timeout, `call '${method}'`)
    this.#calls.add(guard)
    return { text, files, via, guard }
  }

  /** The call of `guard` has its value or its failure. */
  ended(guard: CallGuard): void {
    guard.dispose()
    this.#callEnded(guard)
  }

  /**
   * The call of `guard` has a binary result: its deadline is over, its signal still ends the
   * body, and `close()` waits for the body until it is finished (or cancels it, unread).
   */
  endedInBinary(guard: CallGuard, binary: OpenBinary): void {
    guard.stopTimer()
    this.#binaries.set(binary, guard)
    void binary.finished.then(() => {
      guard.dispose()
      this.#binaries.delete(binary)
    })
    this.#callEnded(guard)
  }

  #callEnded(guard: CallGuard): void {
    this.#calls.delete(guard)
    if (this.#calls.size === 0) this.#idle?.()
  }

  /**
   * Refuses new calls, waits for those in flight, then releases the client; the same promise
   * every time. Once `signal` aborts, calls in flight and binary bodies still open end at once
   * with `KrpcClosedError` (`cause`: the signal's reason).
   */
  close(opts: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const closing = (this.#closing ??= this.#close())
    const signal = opts.signal
    if (signal === undefined) return closing
    const cut = (): void => this.#cut(signal.reason)
    if (signal.aborted) cut()
    else {
      signal.addEventListener('abort', cut, { once: true })
      void closing.then(() => signal.removeEventListener('abort', cut))
    }
    return closing
  }

  #cut(reason: unknown): void {
    const err = new KrpcClosedError('the client was closed', { cause: reason })
    for (const guard of this.#calls) guard.stop(err)
    for (const guard of this.#binaries.values()) guard.stop(err)
  }

  async #close(): Promise<void> {
    if (this.#calls.size > 0) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve
      })
    }
    // A body nobody started reading would hold `close()` forever, so it is cancelled.
    await Promise.all([...this.#binaries.keys()].map((binary) => (binary.taken ? binary.finished : binary.cancel())))
    this.#release()
    this.#deadlines.clear()
    this.#resolveClosed()
  }
}
