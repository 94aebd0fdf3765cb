// The errors karp raises, their codes, and how framing's errors become karp's.
import {
  ConnectError,
  ListenError,
  ProtoError,
  ProxyHeaderError,
  TimeoutError,
  TlsHandshakeError,
  TooManyConnectionsError,
  errorMapper,
  escapeControl,
  toText,
} from '@proto/framing'
import type { FrameTooLargeError, PlumbingErrors, ProxyHeaderFailure } from '@proto/framing'
import type { KarpFrameHeader } from './frame.ts'

/** Every code karp raises. Match on `err.code`: it survives duplicate installs, `instanceof` does not. */
export const ErrorCode = {
  INVALID_ROUTE: 'ERR_KARP_INVALID_ROUTE',
  BAD_FRAME: 'ERR_KARP_BAD_FRAME',
  LENGTH_MISMATCH: 'ERR_KARP_LENGTH_MISMATCH',
  BAD_BASE64: 'ERR_KARP_BAD_BASE64',
  FRAME_TOO_LARGE: 'ERR_KARP_FRAME_TOO_LARGE',
  TOO_MANY_IN_FLIGHT: 'ERR_KARP_TOO_MANY_IN_FLIGHT',
  BAD_HANDLER_RESULT: 'ERR_KARP_BAD_HANDLER_RESULT',
  UNKNOWN_ROUTE: 'ERR_KARP_UNKNOWN_ROUTE',
  REMOTE: 'ERR_KARP_REMOTE',
  CLOSED: 'ERR_KARP_CLOSED',
  IDLE_TIMEOUT: 'ERR_KARP_IDLE_TIMEOUT',
  TIMEOUT: 'ERR_KARP_TIMEOUT',
  CONNECT: 'ERR_KARP_CONNECT',
  LISTEN: 'ERR_KARP_LISTEN',
  TOO_MANY_CONNECTIONS: 'ERR_KARP_TOO_MANY_CONNECTIONS',
  TLS_HANDSHAKE: 'ERR_KARP_TLS_HANDSHAKE',
  PROXY_HEADER: 'ERR_KARP_PROXY_HEADER',
} as const

/** One of karp's codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/**
 * The base of karp's protocol errors. The errors of connecting, listening and admission
 * (`KarpTimeoutError`, `KarpConnectError`, `KarpListenError`, `KarpTooManyConnectionsError`,
 * `KarpTlsHandshakeError`, `KarpProxyHeaderError`) extend framing's classes of the same job
 * instead, with karp's codes.
 */
export abstract class KarpError extends ProtoError {
  override name = 'KarpError'
  abstract override readonly code: ErrorCode
}

/** A route is not `[a-z_]+` once lowercased; raised before anything is sent or registered. */
export class KarpInvalidRouteError extends KarpError {
  override name = 'KarpInvalidRouteError'
  override readonly code = ErrorCode.INVALID_ROUTE
  /** The route as it was given. */
  readonly route: string

  constructor(route: string) {
    super(`route ${JSON.stringify(route)} is not [a-z_]+ once lowercased`)
    this.route = route
  }
}

/** A line is neither a request nor a response. */
export class KarpBadFrameError extends KarpError {
  override name = 'KarpBadFrameError'
  override readonly code = ErrorCode.BAD_FRAME
}

/** The frame's header parsed, but its data did not; `header` says whom to answer. */
export abstract class KarpDataError extends KarpError {
  /** The frame's request id. */
  readonly id: string
  /** The parsed fields before the data. */
  readonly header: KarpFrameHeader

  constructor(header: KarpFrameHeader, message: string) {
    super(message)
    this.id = header.id
    this.header = header
  }
}

/** `C_LEN` differs from the number of base64 characters. */
export class KarpLengthMismatchError extends KarpDataError {
  override name = 'KarpLengthMismatchError'
  override readonly code = ErrorCode.LENGTH_MISMATCH
  /** What `C_LEN` says; `Infinity` past 15 significant digits. */
  readonly declared: number
  /** Base64 characters actually present. */
  readonly actual: number

  constructor(header: KarpFrameHeader, declared: number, actual: number) {
    super(
      header,
      Number.isFinite(declared)
        ? `C_LEN says ${declared} characters, the data has ${actual}`
        : `C_LEN has more than 15 significant digits, the data has ${actual} characters`,
    )
    this.declared = declared
    this.actual = actual
  }
}

/** The data is not canonical-length strict standard base64. */
export class KarpBadBase64Error extends KarpDataError {
  override name = 'KarpBadBase64Error'
  override readonly code = ErrorCode.BAD_BASE64
}

/** A frame, LF included, is over `maxFrameBytes` (`size` may be a lower bound while receiving). */
export class KarpFrameTooLargeError extends KarpError {
  override name = 'KarpFrameTooLargeError'
  override readonly code = ErrorCode.FRAME_TOO_LARGE
  /** Bytes of the frame, LF included, or as many as were seen before it was refused. */
  readonly size: number
  /** `maxFrameBytes`. */
  readonly limit: number

  constructor(size: number, limit: number, options?: ErrorOptions) {
    super(`frame of ${size} bytes is over maxFrameBytes (${limit})`, options)
    this.size = size
    this.limit = limit
  }
}

/** `maxInFlight` requests are already running (incoming) or awaiting replies (outgoing). */
export class KarpTooManyInFlightError extends KarpError {
  override name = 'KarpTooManyInFlightError'
  override readonly code = ErrorCode.TOO_MANY_IN_FLIGHT
  /** `maxInFlight`. */
  readonly limit: number

  constructor(limit: number) {
    super(`${limit} requests are already in flight on this connection (maxInFlight)`)
    this.limit = limit
  }
}

/** A handler returned something other than a string, a Uint8Array, null or undefined. */
export class KarpBadHandlerResultError extends KarpError {
  override name = 'KarpBadHandlerResultError'
  override readonly code = ErrorCode.BAD_HANDLER_RESULT
  /** The route whose handler it was. */
  readonly route: string

  constructor(route: string, type: string) {
    super(`route '${route}' returned ${type}; expected string, Uint8Array or undefined`)
    this.route = route
  }
}

/**
 * No handler serves the route. The wire answer is the original's (`'<route>'` in quotes, success
 * 0), which `request()` rejects with as a `RemoteError`; this error names the case where karp
 * tells it apart: the `request:error` diagnostics message of the end that has no handler (either
 * end serves routes), and `karp request`.
 */
export class KarpUnknownRouteError extends KarpError {
  override name = 'KarpUnknownRouteError'
  override readonly code = ErrorCode.UNKNOWN_ROUTE
  /** The route asked for, lowercased. */
  readonly route: string

  constructor(route: string) {
    super(`no route '${route}'`)
    this.route = route
  }
}

// What the peer said, like RemoteError: command-line tools exit 1 for it (framing's cli REMOTE_ERROR).
Object.defineProperty(KarpUnknownRouteError.prototype, Symbol.for('@proto/remote-error'), { value: true })

/** The peer answered with success 0: `message` is its text, `data` the raw bytes. */
export class RemoteError extends KarpError {
  override name = 'RemoteError'
  override readonly code = ErrorCode.REMOTE
  /** The id of the request it answers. */
  readonly id: string
  /** The failure's data as it came, `message` being its UTF-8 text. */
  readonly data: Uint8Array

  constructor(id: string, data: Uint8Array) {
    super(toText(data))
    this.id = id
    this.data = data
  }
}

/** The connection ended or is closing; `cause` holds the socket or limit error, if any. */
export class KarpClosedError extends KarpError {
  override name = 'KarpClosedError'
  override readonly code = ErrorCode.CLOSED

  constructor(message = 'connection closed', options?: ErrorOptions) {
    super(message, options)
  }
}

/** Nothing arrived for `limits.idleTimeout` ms while nothing was in flight either way; the connection was closed. */
export class KarpIdleTimeoutError extends KarpError {
  override name = 'KarpIdleTimeoutError'
  override readonly code = ErrorCode.IDLE_TIMEOUT
  /** `limits.idleTimeout`. */
  readonly timeout: number

  constructor(timeout: number) {
    super(`no byte received for ${timeout} ms with nothing in flight (idleTimeout)`)
    this.timeout = timeout
  }
}

/** A caller's deadline passed: a request, a notification's write, a connect. `name` is `TimeoutError`. */
export class KarpTimeoutError extends TimeoutError {
  override readonly code = ErrorCode.TIMEOUT
}

/** `connect()` failed; `cause` is the net or TLS error. */
export class KarpConnectError extends ConnectError {
  override name = 'KarpConnectError'
  override readonly code = ErrorCode.CONNECT
}

/** `listen()` failed, or the listening socket failed to accept; `cause` is the net error. */
export class KarpListenError extends ListenError {
  override name = 'KarpListenError'
  override readonly code = ErrorCode.LISTEN
}

/** A connection arrived while `limits.maxConnections` were open; it was closed at once. */
export class KarpTooManyConnectionsError extends TooManyConnectionsError {
  override name = 'KarpTooManyConnectionsError'
  override readonly code = ErrorCode.TOO_MANY_CONNECTIONS
}

/** A TLS peer's handshake failed or did not finish within `limits.handshakeTimeout`. */
export class KarpTlsHandshakeError extends TlsHandshakeError {
  override name = 'KarpTlsHandshakeError'
  override readonly code = ErrorCode.TLS_HANDSHAKE
}

/**
 * With `proxyProtocol`, a connection did not open with a valid PROXY header (`reason` says how);
 * the bytes of the peer's that the message quotes have their control characters escaped.
 */
export class KarpProxyHeaderError extends ProxyHeaderError {
  override name = 'KarpProxyHeaderError'
  override readonly code = ErrorCode.PROXY_HEADER

  constructor(reason: ProxyHeaderFailure, message: string, options?: ErrorOptions) {
    // The message may quote what the peer sent in place of a header, and ends up in logs.
    super(reason, escapeControl(message), options)
  }
}

/** The classes framing's connect and listen raise karp's errors with. */
export const KARP_ERRORS: PlumbingErrors = {
  Timeout: KarpTimeoutError,
  Connect: KarpConnectError,
  Listen: KarpListenError,
  TooManyConnections: KarpTooManyConnectionsError,
  TlsHandshake: KarpTlsHandshakeError,
  ProxyHeader: KarpProxyHeaderError,
}

/**
 * Framing's errors under karp's codes: a line over the limit, a write's deadline, a closed
 * stream. `ERR_PROTO_USAGE` and `ERR_PROTO_WRITE_BUFFER_FULL` keep framing's codes.
 */
export const toKarpError = errorMapper({
  codes: {
    // Framing counts the bytes before the LF against maxFrameBytes − 1; the frame is one more.
    ERR_PROTO_FRAME_TOO_LARGE: (err) => {
      const tooLarge = err as FrameTooLargeError
      return new KarpFrameTooLargeError(tooLarge.size + 1, tooLarge.limit + 1, { cause: err })
    },
    ERR_PROTO_TIMEOUT: (err) => {
      const timedOut = err as TimeoutError
      return new KarpTimeoutError(timedOut.what, timedOut.timeout, { cause: err })
    },
  },
  closed: (message, cause) => new KarpClosedError(message, { cause }),
})

/** What a failure reply carries for an error raised here: the code first, so peers can match it. */
export function failureText(err: KarpError): string {
  return `${err.code}: ${err.message}`
}
