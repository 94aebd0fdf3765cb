// The limits and option names of servers and clients: checked, with their defaults applied.
import { CONNECT_OPTION_NAMES, UsageError, checkLimit, checkOptions, checkTimeout } from '@proto/framing'
import type { OptionNames } from '@proto/framing'
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_FILES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_NAME_BYTES,
  DEFAULT_PING_INTERVAL,
  DEFAULT_STALL_TIMEOUT,
  DEFAULT_TIMEOUT,
} from './constants.ts'
import type { TejConnectOptions, TejHandler, TejLimits, TejServerLimits, TejServerOptions } from './types.ts'

/** The limits on the peer, checked. */
export interface ResolvedLimits {
  readonly maxFiles: number
  readonly maxNameBytes: number
  readonly maxFileBytes: number
  readonly maxMessageBytes: number
  readonly maxBufferedBytes: number
  readonly idleTimeout: number
  /** `Infinity` when off, whether it was given as 0 or as `Infinity`. */
  readonly stallTimeout: number
}

/** What every connection is given, server side or client side. */
export interface ResolvedConnectionOptions {
  readonly limits: ResolvedLimits
  readonly pingInterval: number
  readonly timeout: number
}

const LIMIT_NAMES = {
  maxFiles: true,
  maxNameBytes: true,
  maxFileBytes: true,
  maxMessageBytes: true,
  maxBufferedBytes: true,
  idleTimeout: true,
  stallTimeout: true,
} as const satisfies OptionNames<TejLimits>

const SERVER_LIMIT_NAMES = {
  ...LIMIT_NAMES,
  maxConnections: true,
  handshakeTimeout: true,
} as const satisfies OptionNames<TejServerLimits>

const SERVER_OPTION_NAMES = {
  handler: true,
  limits: SERVER_LIMIT_NAMES,
  pingInterval: true,
  timeout: true,
} as const satisfies OptionNames<TejServerOptions>

const CONNECT_NAMES = {
  ...CONNECT_OPTION_NAMES,
  handler: true,
  limits: LIMIT_NAMES,
  pingInterval: true,
  timeout: true,
} as const satisfies OptionNames<TejConnectOptions>

/**
 * The limits in `limits` with their defaults. Sizes may be 0 (nothing of that kind is accepted);
 * `idleTimeout` 0 is off, and `stallTimeout` 0 or `Infinity`. With `where`, unknown names are refused too, naming that call.
 * @throws {UsageError} for a value that is not an integer in range, or an unknown name
 */
export function resolveLimits(limits?: TejLimits, where?: string): ResolvedLimits {
  if (where !== undefined) checkOptions(limits, LIMIT_NAMES, where)
  return {
    maxFiles: checkLimit('maxFiles', limits?.maxFiles, DEFAULT_MAX_FILES, 0),
    maxNameBytes: checkLimit('maxNameBytes', limits?.maxNameBytes, DEFAULT_MAX_NAME_BYTES, 0),
    maxFileBytes: checkLimit('maxFileBytes', limits?.maxFileBytes, DEFAULT_MAX_FILE_BYTES, 0),
    maxMessageBytes: checkLimit('maxMessageBytes', limits?.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 0),
    maxBufferedBytes: checkLimit('maxBufferedBytes', limits?.maxBufferedBytes, DEFAULT_MAX_BUFFERED_BYTES, 0),
    idleTimeout: checkLimit('idleTimeout', limits?.idleTimeout, DEFAULT_IDLE_TIMEOUT, 0),
    stallTimeout: checkStallTimeout(limits?.stallTimeout),
  }
}

function checkStallTimeout(value: number | undefined): number {
  const timeout = checkTimeout('stallTimeout', value, DEFAULT_STALL_TIMEOUT)
  // 0 is off, as for the other limits on the peer, rather than a deadline that expires at once.
  return timeout === 0 ? Number.POSITIVE_INFINITY : timeout
}

function resolveConnection(options: TejServerOptions | TejConnectOptions): ResolvedConnectionOptions {
  return {
    limits: resolveLimits(options.limits),
    pingInterval: checkLimit('pingInterval', options.pingInterval, DEFAULT_PING_INTERVAL, 0),
    timeout: checkTimeout('timeout', options.timeout, DEFAULT_TIMEOUT),
  }
}

function checkHandler(handler: unknown): TejHandler | undefined {
  if (handler !== undefined && typeof handler !== 'function') throw new UsageError('handler must be a function')
  return handler as TejHandler | undefined
}

/** A server's options, checked, with their defaults applied. */
export interface ResolvedServerOptions extends ResolvedConnectionOptions {
  readonly handler: TejHandler | undefined
  readonly maxConnections: number
  readonly handshakeTimeout: number
}

/**
 * The options of `createServer()`, checked.
 * @throws {UsageError} for an unknown option name or a value out of range
 */
export function resolveServerOptions(options: TejServerOptions = {}): ResolvedServerOptions {
  checkOptions(options, SERVER_OPTION_NAMES, 'createServer()')
  return {
    ...resolveConnection(options),
    handler: checkHandler(options.handler),
    maxConnections: checkLimit('maxConnections', options.limits?.maxConnections, DEFAULT_MAX_CONNECTIONS),
    handshakeTimeout: checkLimit('handshakeTimeout', options.limits?.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT),
  }
}

/** A client's options, checked: what its connection is given, and its handler. */
export interface ResolvedConnectOptions extends ResolvedConnectionOptions {
  readonly handler: TejHandler | undefined
}

/**
 * The options of `connect()` that are TEJ's own, checked (the target and `connectTimeout` are
 * framing's `connectStream`'s to check).
 * @throws {UsageError} for an unknown option name or a value out of range
 */
export function resolveConnectOptions(options: TejConnectOptions): ResolvedConnectOptions {
  checkOptions(options, CONNECT_NAMES, 'connect()')
  return { ...resolveConnection(options), handler: checkHandler(options.handler) }
}
