// Loaded by browsers through `@proto/framing/errors`: no `node:` modules and no Buffer here.

const BRAND = Symbol.for('@proto/error')

/** Every code framing raises; match on `err.code`, which survives duplicate installs. */
export const ErrorCode = {
  FRAME_TOO_LARGE: 'ERR_PROTO_FRAME_TOO_LARGE',
  TRUNCATED_FRAME: 'ERR_PROTO_TRUNCATED_FRAME',
  BAD_LENGTH: 'ERR_PROTO_BAD_LENGTH',
  INVALID_FRAME: 'ERR_PROTO_INVALID_FRAME',
  IDLE_TIMEOUT: 'ERR_PROTO_IDLE_TIMEOUT',
  CLOSED: 'ERR_PROTO_CLOSED',
  WRITE_BUFFER_FULL: 'ERR_PROTO_WRITE_BUFFER_FULL',
  USAGE: 'ERR_PROTO_USAGE',
  TIMEOUT: 'ERR_PROTO_TIMEOUT',
  CONNECT: 'ERR_PROTO_CONNECT',
  LISTEN: 'ERR_PROTO_LISTEN',
  TOO_MANY_CONNECTIONS: 'ERR_PROTO_TOO_MANY_CONNECTIONS',
  TLS_HANDSHAKE: 'ERR_PROTO_TLS_HANDSHAKE',
  PROXY_HEADER: 'ERR_PROTO_PROXY_HEADER',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** The base of every `@proto` error. */
export class ProtoError extends Error {
  override name = 'ProtoError'
  readonly code: string = 'ERR_PROTO'

  constructor(message?: string, options?: ErrorOptions) {
    super(message, options)
  }
}

// On the prototype rather than per instance: the brand is what `isProtoError` trusts when two
// copies of this package are installed and `instanceof` cannot.
Object.defineProperty(ProtoError.prototype, BRAND, { value: true })

/** True for any `@proto` error, from any installed copy of the package. */
export function isProtoError(value: unknown): value is ProtoError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
}

/** A frame, line, field or message is larger than its limit allows. */
export class FrameTooLargeError extends ProtoError {
  override name = 'FrameTooLargeError'
  override readonly code: typeof ErrorCode.FRAME_TOO_LARGE = ErrorCode.FRAME_TOO_LARGE
  /** Bytes seen or declared so far; at least `limit + 1`. */
  readonly size: number
  readonly limit: number

  constructor(size: number, limit: number, options?: ErrorOptions) {
    super(`frame of ${size} bytes is over the limit of ${limit}`, options)
    this.size = size
    this.limit = limit
  }
}

/** The input ended in the middle of a frame. */
export class TruncatedFrameError extends ProtoError {
  override name = 'TruncatedFrameError'
  override readonly code: typeof ErrorCode.TRUNCATED_FRAME = ErrorCode.TRUNCATED_FRAME
  /** Bytes of the unfinished frame that did arrive. */
  readonly received: number
  /** Bytes the frame needed, when that is known. */
  readonly expected: number | undefined

  constructor(received: number, expected?: number, options?: ErrorOptions) {
    super(
      expected === undefined
        ? `input ended inside a frame after ${received} bytes`
        : `input ended after ${received} of ${expected} bytes`,
      options,
    )
    this.received = received
    this.expected = expected
  }
}

/** A length field is negative once adjusted, or a 64-bit value is above 2^53 − 1. */
export class BadLengthError extends ProtoError {
  override name = 'BadLengthError'
  override readonly code: typeof ErrorCode.BAD_LENGTH = ErrorCode.BAD_LENGTH
  readonly value: number | bigint

  constructor(value: number | bigint, options?: ErrorOptions) {
    super(`length ${value} is not usable`, options)
    this.value = value
  }
}

/** The bytes do not form a valid frame (a bad gzip member, an LF inside a line to encode). */
export class InvalidFrameError extends ProtoError {
  override name = 'InvalidFrameError'
  override readonly code: typeof ErrorCode.INVALID_FRAME = ErrorCode.INVALID_FRAME
}

/** No byte arrived for `timeout` ms while a read was waiting. */
export class IdleTimeoutError extends ProtoError {
  override name = 'IdleTimeoutError'
  override readonly code: typeof ErrorCode.IDLE_TIMEOUT = ErrorCode.IDLE_TIMEOUT
  readonly timeout: number

  constructor(timeout: number, options?: ErrorOptions) {
    super(`no byte received for ${timeout} ms`, options)
    this.timeout = timeout
  }
}

/** The connection is closed, or the stream under it failed (`cause`). */
export class ClosedError extends ProtoError {
  override name = 'ClosedError'
  override readonly code: typeof ErrorCode.CLOSED = ErrorCode.CLOSED

  constructor(message = 'connection closed', options?: ErrorOptions) {
    super(message, options)
  }
}

/** A write would take the queued output past `maxWriteBufferBytes`; nothing was written. */
export class WriteBufferFullError extends ProtoError {
  override name = 'WriteBufferFullError'
  override readonly code: typeof ErrorCode.WRITE_BUFFER_FULL = ErrorCode.WRITE_BUFFER_FULL
  /** Bytes already queued. */
  readonly buffered: number
  /** Bytes of the refused write. */
  readonly size: number
  readonly limit: number

  constructor(buffered: number, size: number, limit: number, options?: ErrorOptions) {
    super(`writing ${size} bytes to ${buffered} queued would pass maxWriteBufferBytes (${limit})`, options)
    this.buffered = buffered
    this.size = size
    this.limit = limit
  }
}

/** A bad option or argument, or a read while a field stream is open. */
export class UsageError extends ProtoError {
  override name = 'UsageError'
  override readonly code: typeof ErrorCode.USAGE = ErrorCode.USAGE
}

/** Why a PROXY protocol header was refused. */
export type ProxyHeaderFailure = 'invalid' | 'too-large' | 'timeout' | 'closed'

/**
 * The connection did not open with a valid PROXY protocol header: `reason` says whether the bytes
 * were malformed, over `maxBytes`, too late, or cut off by the end of the connection.
 */
export class ProxyHeaderError extends ProtoError {
  override name = 'ProxyHeaderError'
  override readonly code: string = ErrorCode.PROXY_HEADER
  readonly reason: ProxyHeaderFailure

  constructor(reason: ProxyHeaderFailure, message: string, options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

/**
 * A caller's deadline passed: `what` timed out after `timeout` ms. `name` is `'TimeoutError'` in
 * every subclass too (as on the DOMException of `AbortSignal.timeout`), so packages subclass it
 * only to set their own `code`.
 */
export class TimeoutError extends ProtoError {
  override name = 'TimeoutError'
  override readonly code: string = ErrorCode.TIMEOUT
  /** What timed out, as in `connect to 127.0.0.1:7755` or `request 'echo'`. */
  readonly what: string
  /** The deadline, in milliseconds. */
  readonly timeout: number

  constructor(what: string, timeout: number, options?: ErrorOptions) {
    super(`${what} timed out after ${timeout} ms`, options)
    this.what = what
    this.timeout = timeout
  }
}

/** A connection to `target` (`host:port`, `[v6]:port` or a socket path) could not be opened; `cause` says why. */
export class ConnectError extends ProtoError {
  override name = 'ConnectError'
  override readonly code: string = ErrorCode.CONNECT
  readonly target: string

  constructor(target: string, options?: ErrorOptions) {
    super(withCause(`cannot connect to ${target}`, options), options)
    this.target = target
  }
}

/** A server could not listen on `address`, or its listening socket failed; `cause` says why. */
export class ListenError extends ProtoError {
  override name = 'ListenError'
  override readonly code: string = ErrorCode.LISTEN
  readonly address: string

  constructor(address: string, options?: ErrorOptions) {
    super(withCause(`cannot listen on ${address}`, options), options)
    this.address = address
  }
}

/** A server at `maxConnections` refused a connection. */
export class TooManyConnectionsError extends ProtoError {
  override name = 'TooManyConnectionsError'
  override readonly code: string = ErrorCode.TOO_MANY_CONNECTIONS
  readonly limit: number

  constructor(limit: number) {
    super(`server is at maxConnections (${limit})`)
    this.limit = limit
  }
}

/** A peer's TLS handshake failed or did not finish within the server's `handshakeTimeout`. */
export class TlsHandshakeError extends ProtoError {
  override name = 'TlsHandshakeError'
  override readonly code: string = ErrorCode.TLS_HANDSHAKE
}

/**
 * The error classes a package hands to `connectStream` and `Listener`, so that what they raise
 * carries the package's codes. Each package subclasses framing's classes to set `code` (and,
 * except for `TimeoutError`, `name`); every one of them declares `code` as a string for that.
 */
export interface PlumbingErrors {
  /** A caller's deadline (connect). */
  readonly Timeout: new (what: string, timeout: number, options?: ErrorOptions) => TimeoutError
  /** A failed connect, TLS handshake included. */
  readonly Connect: new (target: string, options?: ErrorOptions) => ConnectError
  /** A failed listen, or an accept failure while listening. */
  readonly Listen: new (address: string, options?: ErrorOptions) => ListenError
  /** A connection refused at `maxConnections`. */
  readonly TooManyConnections: new (limit: number) => TooManyConnectionsError
  /** A peer's failed or late TLS handshake. */
  readonly TlsHandshake: new (message: string, options?: ErrorOptions) => TlsHandshakeError
  /** A PROXY protocol header that is malformed, too large, late or cut off. */
  readonly ProxyHeader: new (reason: ProxyHeaderFailure, message: string, options?: ErrorOptions) => ProxyHeaderError
}

/** `message`, then the message of `options.cause` when it is an Error. */
function withCause(message: string, options: ErrorOptions | undefined): string {
  const cause = options?.cause
  return cause instanceof Error && cause.message !== '' ? `${message}: ${cause.message}` : message
}

/** framing's own classes, for callers of `connectStream` and `Listener` that pass none. */
export const PROTO_ERRORS: PlumbingErrors = {
  Timeout: TimeoutError,
  Connect: ConnectError,
  Listen: ListenError,
  TooManyConnections: TooManyConnectionsError,
  TlsHandshake: TlsHandshakeError,
  ProxyHeader: ProxyHeaderError,
}
