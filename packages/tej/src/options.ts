import { checkLimit } from '@proto/framing'
import {
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_FILES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_NAME_BYTES,
  DEFAULT_PING_INTERVAL,
} from './constants.ts'
import type { TejConnection } from './connection.ts'
import type { TejIncomingFrame } from './incoming.ts'

/** Limits, timers and the frame handler, shared by servers and clients. */
export interface TejOptions {
  /** Files a received frame may declare. @default 1024 */
  maxFiles?: number | undefined
  /** UTF-8 bytes of a received file name. @default 4096 */
  maxNameBytes?: number | undefined
  /** Bytes of a received file; files stream, so this guards the application, not memory. @default 9_007_199_254_740_991 */
  maxFileBytes?: number | undefined
  /** Bytes of a received message, which is held whole. @default 16_777_216 */
  maxMessageBytes?: number | undefined
  /** Bytes `buffer()`, `bytes()` and a received ping may hold. @default 67_108_864 */
  maxBufferedBytes?: number | undefined
  /** Milliseconds without a received byte before the connection closes; 0 is off. @default 0 */
  idleTimeout?: number | undefined
  /** Milliseconds between keep-alive pings; 0 is off. @default 0 */
  pingInterval?: number | undefined
  /**
   * Receives each frame, one at a time. What it leaves unread is discarded when it settles; if
   * it throws, `handlerError` is emitted and the connection stays. Without it, iterate the
   * connection. @default undefined
   */
  onFrame?: ((frame: TejIncomingFrame, conn: TejConnection) => void | Promise<void>) | undefined
}

/** The receive limits, checked. */
export interface TejLimits {
  readonly maxFiles: number
  readonly maxNameBytes: number
  readonly maxFileBytes: number
  readonly maxMessageBytes: number
  readonly maxBufferedBytes: number
}

/** Every option, checked, with its default applied. */
export interface ResolvedOptions extends TejLimits {
  readonly idleTimeout: number
  readonly pingInterval: number
}

/**
 * The limits in `options` with their defaults.
 * @throws {UsageError} for a value that is not an integer in range
 */
export function resolveLimits(options?: TejOptions): TejLimits {
  return {
    maxFiles: checkLimit('maxFiles', options?.maxFiles, DEFAULT_MAX_FILES, 0),
    maxNameBytes: checkLimit('maxNameBytes', options?.maxNameBytes, DEFAULT_MAX_NAME_BYTES, 0),
    maxFileBytes: checkLimit('maxFileBytes', options?.maxFileBytes, DEFAULT_MAX_FILE_BYTES, 0),
    maxMessageBytes: checkLimit('maxMessageBytes', options?.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 0),
    maxBufferedBytes: checkLimit('maxBufferedBytes', options?.maxBufferedBytes, DEFAULT_MAX_BUFFERED_BYTES, 0),
  }
}

/**
 * Every option in `options` with its default.
 * @throws {UsageError} for a value that is not an integer in range
 */
export function resolveOptions(options?: TejOptions): ResolvedOptions {
  return {
    ...resolveLimits(options),
    idleTimeout: checkLimit('idleTimeout', options?.idleTimeout, DEFAULT_IDLE_TIMEOUT, 0),
    pingInterval: checkLimit('pingInterval', options?.pingInterval, DEFAULT_PING_INTERVAL, 0),
  }
}
