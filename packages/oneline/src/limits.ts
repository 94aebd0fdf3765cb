// The limits of a server and of a client: their names for checkOptions, their checks and defaults.
import { UsageError, checkLimit, checkOptions } from '@proto/framing'
import type { KnownOptions, OptionNames } from '@proto/framing'
import {
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_QUEUE,
  DEFAULT_MAX_QUEUED_LINES,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
} from './constants.ts'
import type { OnelineClientLimits, OnelineLimits } from './types.ts'

/** Every name of `OnelineLimits`. */
export const LIMIT_NAMES = {
  maxConnections: true,
  maxQueue: true,
  maxLineBytes: true,
  idleTimeout: true,
  maxWriteBufferBytes: true,
} as const satisfies OptionNames<OnelineLimits>

/** Every name of `OnelineClientLimits`. */
export const CLIENT_LIMIT_NAMES = {
  maxLineBytes: true,
  maxQueuedLines: true,
  maxWriteBufferBytes: true,
} as const satisfies OptionNames<OnelineClientLimits>

/** A server's limits, each given or its default. */
export type ServerLimits = Readonly<Required<{ [K in keyof OnelineLimits]: number }>>

/** A client's limits, each given or its default. */
export type ClientLimits = Readonly<Required<{ [K in keyof OnelineClientLimits]: number }>>

/**
 * `limits` with the defaults filled in.
 * @throws {UsageError} for a value that is not an integer in its range
 */
export function serverLimits(limits: OnelineLimits = {}): ServerLimits {
  return {
    maxConnections: checkLimit('limits.maxConnections', limits.maxConnections, DEFAULT_MAX_CONNECTIONS),
    maxQueue: checkLimit('limits.maxQueue', limits.maxQueue, DEFAULT_MAX_QUEUE, 0),
    maxLineBytes: checkLimit('limits.maxLineBytes', limits.maxLineBytes, DEFAULT_MAX_LINE_BYTES),
    idleTimeout: checkLimit('limits.idleTimeout', limits.idleTimeout, DEFAULT_IDLE_TIMEOUT, 0),
    maxWriteBufferBytes: checkLimit('limits.maxWriteBufferBytes', limits.maxWriteBufferBytes, DEFAULT_MAX_WRITE_BUFFER_BYTES),
  }
}

/**
 * `limits` with the defaults filled in.
 * @throws {UsageError} for a value that is not an integer in its range
 */
export function clientLimits(limits: OnelineClientLimits = {}): ClientLimits {
  return {
    maxLineBytes: checkLimit('limits.maxLineBytes', limits.maxLineBytes, DEFAULT_MAX_LINE_BYTES),
    maxQueuedLines: checkLimit('limits.maxQueuedLines', limits.maxQueuedLines, DEFAULT_MAX_QUEUED_LINES),
    maxWriteBufferBytes: checkLimit('limits.maxWriteBufferBytes', limits.maxWriteBufferBytes, DEFAULT_MAX_WRITE_BUFFER_BYTES),
  }
}

/**
 * `checkOptions`, and first a clearer word for a limit given beside the options rather than
 * under `limits`, where it stood in earlier versions.
 * @throws {UsageError} for an unknown option name, naming the closest valid one
 */
export function checkOptionNames(options: unknown, known: KnownOptions & { readonly limits: KnownOptions }, where: string): void {
  if (typeof options === 'object' && options !== null) {
    for (const name of Object.keys(options)) {
      if (!Object.hasOwn(known, name) && Object.hasOwn(known.limits, name)) {
        throw new UsageError(`unknown option '${name}' for ${where} (did you mean 'limits.${name}'?)`)
      }
    }
  }
  checkOptions(options, known, where)
}
