// karp's limits: their names for the option check, and their values checked with defaults applied.
import { checkLimit, UsageError } from '@proto/framing'
import type { OptionNames } from '@proto/framing'
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
} from './constants.ts'
import type { KarpLimits, KarpServerLimits } from './types.ts'

/** The names of `KarpLimits`, for `checkOptions`. */
export const LIMIT_NAMES = {
  maxFrameBytes: true,
  maxInFlight: true,
  maxWriteBufferBytes: true,
  idleTimeout: true,
} as const satisfies OptionNames<KarpLimits>

/** The names of `KarpServerLimits`, for `checkOptions`. */
export const SERVER_LIMIT_NAMES = {
  ...LIMIT_NAMES,
  maxConnections: true,
  handshakeTimeout: true,
} as const satisfies OptionNames<KarpServerLimits>

/** The limits of one connection, checked and with their defaults. */
export interface ConnectionLimits {
  readonly maxFrameBytes: number
  readonly maxInFlight: number
  readonly maxWriteBufferBytes: number
  /** 0 is off. */
  readonly idleTimeout: number
}

/** The limits of a server, checked and with their defaults. */
export interface ServerLimits extends ConnectionLimits {
  readonly maxConnections: number
  readonly handshakeTimeout: number
}

// The smallest frame is 51 bytes; below that nothing could be exchanged.
const MIN_FRAME_BYTES = 64
// Node's socket timers take no longer delay.
const MAX_HANDSHAKE_TIMEOUT = 2_147_483_647

/**
 * The limits of one connection.
 * @throws {UsageError} for a value that is not an integer in range
 */
export function resolveLimits(limits: KarpLimits | undefined): ConnectionLimits {
  return {
    maxFrameBytes: checkLimit('limits.maxFrameBytes', limits?.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, MIN_FRAME_BYTES),
    maxInFlight: checkLimit('limits.maxInFlight', limits?.maxInFlight, DEFAULT_MAX_IN_FLIGHT),
    maxWriteBufferBytes: checkLimit('limits.maxWriteBufferBytes', limits?.maxWriteBufferBytes, DEFAULT_MAX_WRITE_BUFFER_BYTES),
    idleTimeout: checkLimit('limits.idleTimeout', limits?.idleTimeout, DEFAULT_IDLE_TIMEOUT, 0),
  }
}

/**
 * The limits of a server.
 * @throws {UsageError} for a value that is not an integer in range
 */
export function resolveServerLimits(limits: KarpServerLimits | undefined): ServerLimits {
  const handshakeTimeout = checkLimit('limits.handshakeTimeout', limits?.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT)
  if (handshakeTimeout > MAX_HANDSHAKE_TIMEOUT) {
    throw new UsageError(`limits.handshakeTimeout must be at most ${MAX_HANDSHAKE_TIMEOUT} ms, got ${handshakeTimeout}`)
  }
  return {
    ...resolveLimits(limits),
    maxConnections: checkLimit('limits.maxConnections', limits?.maxConnections, DEFAULT_MAX_CONNECTIONS),
    handshakeTimeout,
  }
}
