// Loaded by browsers through `@proto/framing/errors`: no `node:` modules here.
import { UsageError } from './errors.ts'

/** What every call that can wait accepts. */
export interface CallOptions {
  /** Aborting rejects the call with `signal.reason`. @default undefined */
  signal?: AbortSignal | undefined
  /** Milliseconds before the call rejects with a `TimeoutError` DOMException. @default undefined (no timeout) */
  timeout?: number | undefined
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER

/**
 * One signal for `opts.signal` and `opts.timeout` together, or `undefined` when there is neither.
 * @throws {UsageError} when `timeout` is not an integer from 0 to 2^53 − 1
 */
export function callSignal(opts?: CallOptions): AbortSignal | undefined {
  const signal = opts?.signal
  const timeout = opts?.timeout
  if (timeout === undefined) return signal
  const timer = AbortSignal.timeout(checkLimit('timeout', timeout, 0, 0))
  return signal === undefined ? timer : AbortSignal.any([signal, timer])
}

/**
 * `value ?? fallback`, checked to be an integer from `min` to 2^53 − 1. There is no "unlimited":
 * every limit is finite.
 * @throws {UsageError} otherwise
 */
export function checkLimit(name: string, value: number | undefined, fallback: number, min = 1): number {
  const limit = value ?? fallback
  if (!Number.isSafeInteger(limit) || limit < min || limit > MAX_SAFE) {
    throw new UsageError(`${name} must be an integer from ${min} to 2^53 - 1, got ${String(limit)}`)
  }
  return limit
}
