// Deadlines of calls: one timer per owner, any length honoured exactly. Browser-safe: no `node:` modules.
import { UsageError } from './errors.ts'
import type { CallOptions } from './options.ts'

/** The longest delay a timer takes; Node fires a longer one after 1 ms, and browsers at once. */
const MAX_TIMER_DELAY = 2_147_483_647

/**
 * `value ?? fallback` as a timeout in milliseconds: an integer from 0 to 2^53 − 1, or `Infinity`
 * for none. 0 expires at once.
 * @throws {UsageError} for anything else (negative, fractional, `NaN`, not a number)
 */
export function checkTimeout(name: string, value: number | undefined, fallback: number): number {
  const timeout = value ?? fallback
  if (timeout === Number.POSITIVE_INFINITY) return timeout
  if (!Number.isSafeInteger(timeout) || timeout < 0) {
    throw new UsageError(`${name} must be an integer from 0 to 2^53 - 1 (ms) or Infinity, got ${String(timeout)}`)
  }
  return timeout
}

/** A scheduled deadline. */
export interface Deadline {
  /** Stops the deadline; calling it again, or after it fired, does nothing. */
  cancel(): void
}

const NEVER: Deadline = Object.freeze({ cancel(): void {} })

/** One pending deadline: its own Set entry, so scheduling allocates nothing else. */
abstract class Entry implements Deadline {
  /** When it expires, on the `performance.now()` clock. */
  at = 0
  scheduler: DeadlineScheduler | undefined

  abstract expire(): void

  cancel(): void {
    const scheduler = this.scheduler
    if (scheduler === undefined) return
    this.scheduler = undefined
    forget(scheduler, this)
  }
}

class CallbackEntry extends Entry {
  readonly #onExpire: () => void

  constructor(onExpire: () => void) {
    super()
    this.#onExpire = onExpire
  }

  expire(): void {
    this.#onExpire()
  }
}

// Set by DeadlineScheduler's static block: entries and guards reach its private state through
// these without making it public.
let enter: (scheduler: DeadlineScheduler, entry: Entry, timeout: number) => void
let forget: (scheduler: DeadlineScheduler, entry: Entry) => void

/**
 * The deadlines of one owner (a connection, a client) on one timer, armed for the earliest of
 * them and left running when that one is cancelled: a deadline costs a clock read and a Set entry,
 * not a timer. The timer is unref'd (the owner's socket keeps the process alive, not its
 * deadlines) and re-armed in steps of at most 2^31 − 1 ms, so a deadline of any length fires at
 * its time and never before it.
 */
export class DeadlineScheduler {
  readonly #entries = new Set<Entry>()
  #timer: ReturnType<typeof setTimeout> | undefined
  /**
   * The armed timer fires no earlier than this and handles every deadline due by then, so only
   * an earlier one re-arms it; `Infinity` when none is armed.
   */
  #armedFor = Number.POSITIVE_INFINITY

  static {
    enter = (scheduler, entry, timeout) => scheduler.#enter(entry, timeout)
    forget = (scheduler, entry) => scheduler.#entries.delete(entry)
  }

  /** Deadlines pending. */
  get size(): number {
    return this.#entries.size
  }

  /**
   * Calls `onExpire` once `timeout` ms have passed, unless cancelled first. `Infinity` schedules
   * nothing; 0 expires at the timer's next turn.
   * @throws {UsageError} for a timeout `checkTimeout` refuses
   */
  schedule(timeout: number, onExpire: () => void): Deadline {
    checkTimeout('timeout', timeout, 0)
    if (timeout === Number.POSITIVE_INFINITY) return NEVER
    const entry = new CallbackEntry(onExpire)
    this.#enter(entry, timeout)
    return entry
  }

  /** Cancels every pending deadline without calling it, and stops the timer. */
  clear(): void {
    for (const entry of this.#entries) entry.scheduler = undefined
    this.#entries.clear()
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#armedFor = Number.POSITIVE_INFINITY
  }

  #enter(entry: Entry, timeout: number): void {
    entry.scheduler = this
    entry.at = performance.now() + timeout
    this.#entries.add(entry)
    if (entry.at < this.#armedFor) this.#arm(entry.at)
  }

  #arm(at: number): void {
    clearTimeout(this.#timer)
    const now = performance.now()
    const far = at - now > MAX_TIMER_DELAY
    this.#armedFor = far ? now + MAX_TIMER_DELAY : at
    const timer = setTimeout(this.#onTimer, far ? MAX_TIMER_DELAY : Math.max(0, Math.ceil(at - now)))
    // Node's timers have unref(); a browser's are plain numbers.
    ;(timer as { unref?: () => void }).unref?.()
    this.#timer = timer
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined
    this.#armedFor = Number.POSITIVE_INFINITY
    const now = performance.now()
    let next = Number.POSITIVE_INFINITY
    let due: Entry[] | undefined
    for (const entry of this.#entries) {
      if (entry.at <= now) (due ??= []).push(entry)
      else if (entry.at < next) next = entry.at
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next)
    if (due === undefined) return
    for (const entry of due) {
      this.#entries.delete(entry)
      entry.scheduler = undefined
    }
    let failure: { err: unknown } | undefined
    for (const entry of due) {
      try {
        entry.expire()
      } catch (err) {
        // The other deadlines still expire; the first failure is thrown from the timer after them.
        failure ??= { err }
      }
    }
    if (failure !== undefined) throw failure.err
  }
}

/** What `guardCall` returns: release it when the call settles. */
export interface CallGuard {
  /** Cancels the deadline and removes the abort listener; calling it again does nothing. */
  release(): void
}

class Guard extends Entry implements CallGuard {
  readonly #fail: (err: unknown) => void
  readonly #timeoutError: (timeout: number) => Error
  readonly #timeout: number
  readonly #signal: AbortSignal | undefined
  #onAbort: (() => void) | undefined
  #done = false

  constructor(
    fail: (err: unknown) => void,
    timeoutError: (timeout: number) => Error,
    timeout: number,
    signal: AbortSignal | undefined,
  ) {
    super()
    this.#fail = fail
    this.#timeoutError = timeoutError
    this.#timeout = timeout
    if (signal === undefined) return
    this.#signal = signal
    this.#onAbort = () => this.#end(signal.reason)
    signal.addEventListener('abort', this.#onAbort, { once: true })
  }

  expire(): void {
    this.#end(this.#timeoutError(this.#timeout))
  }

  release(): void {
    if (this.#done) return
    this.#done = true
    this.cancel()
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort)
  }

  #end(err: unknown): void {
    if (this.#done) return
    this.release()
    this.#fail(err)
  }
}

/**
 * Watches one call's `signal` and `timeout` (`defaultTimeout` when it has none): calls `fail` at
 * most once, with `signal.reason` on abort or `timeoutError(timeout)` at the deadline, until
 * `release()`. The deadline is an entry of `scheduler`, so a call costs no timer.
 * @throws the signal's reason when it is already aborted, and `timeoutError(0)` for a timeout of 0
 * @throws {UsageError} for a timeout `checkTimeout` refuses
 */
export function guardCall(
  scheduler: DeadlineScheduler,
  opts: CallOptions | undefined,
  defaultTimeout: number,
  fail: (err: unknown) => void,
  timeoutError: (timeout: number) => Error,
): CallGuard {
  const timeout = checkTimeout('timeout', opts?.timeout, defaultTimeout)
  const signal = opts?.signal
  signal?.throwIfAborted()
  if (timeout === 0) throw timeoutError(0)
  const guard = new Guard(fail, timeoutError, timeout, signal)
  if (timeout !== Number.POSITIVE_INFINITY) enter(scheduler, guard, timeout)
  return guard
}

/** What `deadlineSignal` returns. */
export interface DeadlineSignal {
  /** Aborts with the caller's reason or at the deadline; `undefined` when there is neither. */
  readonly signal: AbortSignal | undefined
  /** Stops watching: the deadline is cancelled and the caller's signal no longer forwarded. */
  release(): void
}

const ignore = (): void => {}
const RELEASED: DeadlineSignal = Object.freeze({ signal: undefined, release: ignore })
// The deadlines of signals have no owner to hold a scheduler; one shared timer serves them all.
const shared = new DeadlineScheduler()

/**
 * One `AbortSignal` for `opts.signal` and `opts.timeout` (`defaultTimeout` when it has none), for
 * APIs that take a signal (a `node:http` request, a connect). At the deadline it aborts with
 * `timeoutError(timeout)`, on the caller's abort with its reason; an already aborted signal or a
 * timeout of 0 gives a signal that is already aborted. Unlike `AbortSignal.timeout`, any timeout
 * up to 2^53 − 1 ms is honoured exactly, and `release()` frees the deadline at once.
 * @throws {UsageError} for a timeout `checkTimeout` refuses
 */
export function deadlineSignal(
  opts: CallOptions | undefined,
  defaultTimeout: number,
  timeoutError: (timeout: number) => Error,
): DeadlineSignal {
  const timeout = checkTimeout('timeout', opts?.timeout, defaultTimeout)
  const outer = opts?.signal
  if (outer?.aborted === true) return { signal: outer, release: ignore }
  if (timeout === 0) return { signal: AbortSignal.abort(timeoutError(0)), release: ignore }
  if (timeout === Number.POSITIVE_INFINITY) return outer === undefined ? RELEASED : { signal: outer, release: ignore }
  const controller = new AbortController()
  const guard = guardCall(shared, opts, timeout, (reason) => controller.abort(reason), timeoutError)
  return { signal: controller.signal, release: () => guard.release() }
}
