// What calls accept, and the check of size and count limits. Browser-safe: no `node:` modules.
import { UsageError } from './errors.ts'

/** What every call that can wait accepts. */
export interface CallOptions {
  /** Aborting rejects the call with `signal.reason`. @default undefined */
  signal?: AbortSignal | undefined
  /**
   * Milliseconds before the call rejects with a `TimeoutError` (the package's, code
   * `ERR_<PKG>_TIMEOUT`): an integer up to 2^53 − 1, honoured exactly; 0 expires at once,
   * `Infinity` never.
   * @default the call's own default (none for framing's calls)
   */
  timeout?: number | undefined
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER

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
