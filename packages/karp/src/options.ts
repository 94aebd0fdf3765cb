// The options both ends of a connection take, checked and with their defaults applied.
import { checkLimit, checkTimeout, UsageError } from '@proto/framing'
import { DEFAULT_KEEP_ALIVE, DEFAULT_TIMEOUT } from './constants.ts'
import type { ConnectionLimits } from './limits.ts'
import type { KarpOptions } from './types.ts'

/** What every connection runs with. */
export interface ConnectionConfig {
  readonly limits: ConnectionLimits
  /** The default deadline of `request()` and `notify()`; `Infinity` for none. */
  readonly timeout: number
  readonly keepAlive: number | false
  readonly exposeErrors: boolean
}

/** The names of `KarpOptions`, for `checkOptions`. */
export const OPTION_NAMES = { handlers: true, timeout: true, keepAlive: true, exposeErrors: true } as const

/**
 * The options of a connection, with its limits already resolved (`resolveLimits`, or a server's).
 * @throws {UsageError} for a value out of range or of the wrong type
 */
export function resolveConfig(options: KarpOptions, limits: ConnectionLimits): ConnectionConfig {
  const exposeErrors: unknown = options.exposeErrors ?? false
  if (typeof exposeErrors !== 'boolean') throw new UsageError('exposeErrors must be a boolean')
  return {
    limits,
    timeout: checkTimeout('timeout', options.timeout, DEFAULT_TIMEOUT),
    keepAlive: options.keepAlive === false ? false : checkLimit('keepAlive', options.keepAlive, DEFAULT_KEEP_ALIVE, 0),
    exposeErrors,
  }
}
