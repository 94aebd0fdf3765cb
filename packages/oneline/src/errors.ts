// The errors of @proto/oneline, their codes, and how framing's errors become them.
import {
  ConnectError,
  ErrorCode as ProtoErrorCode,
  ListenError,
  ProtoError,
  ProxyHeaderError,
  TimeoutError,
  TlsHandshakeError,
  TooManyConnectionsError,
  errorMapper,
  escapeControl,
  isProtoError,
} from '@proto/framing'
import type { FrameTooLargeError, IdleTimeoutError, PlumbingErrors, ProxyHeaderFailure } from '@proto/framing'

/** Stable codes of every error this package creates. Match on `err.code`. */
export const ErrorCode = {
  LINE_TOO_LONG: 'ERR_ONELINE_LINE_TOO_LONG',
  BUSY: 'ERR_ONELINE_BUSY',
  IDLE_TIMEOUT: 'ERR_ONELINE_IDLE_TIMEOUT',
  INVALID_LINE: 'ERR_ONELINE_INVALID_LINE',
  UNPROMPTED: 'ERR_ONELINE_UNPROMPTED',
  BAD_PONG: 'ERR_ONELINE_BAD_PONG',
  CLOSED: 'ERR_ONELINE_CLOSED',
  CONNECT: 'ERR_ONELINE_CONNECT',
  TIMEOUT: 'ERR_ONELINE_TIMEOUT',
  LISTEN: 'ERR_ONELINE_LISTEN',
  TOO_MANY_CONNECTIONS: 'ERR_ONELINE_TOO_MANY_CONNECTIONS',
  TLS_HANDSHAKE: 'ERR_ONELINE_TLS_HANDSHAKE',
  PROXY_HEADER: 'ERR_ONELINE_PROXY_HEADER',
} as const

/** One of the codes in `ErrorCode`. */
export type OnelineErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/**
 * Base of oneline's own errors. The errors of connecting, listening, admission and deadlines
 * extend framing's classes of the same names instead (`OnelineTimeoutError` extends
 * `TimeoutError`, ...): match on `err.code`, which every one of them carries.
 */
export abstract class OnelineError extends ProtoError {
  abstract override readonly code: OnelineErrorCode
}

/** A received command or response line exceeded `maxLineBytes`. */
export class OnelineLineTooLongError extends OnelineError {
  override name = 'OnelineLineTooLongError'
  override readonly code = ErrorCode.LINE_TOO_LONG
  /** The limit that was passed, in bytes before the LF. */
  readonly limit: number
  constructor(limit: number, options?: ErrorOptions) {
    super(`line longer than maxLineBytes (${limit} bytes)`, options)
    this.limit = limit
  }
}

/** A connection was refused because a client is active (`busy: 'refuse'`) or the queue is full. */
export class OnelineBusyError extends OnelineError {
  override name = 'OnelineBusyError'
  override readonly code = ErrorCode.BUSY
  constructor(message: string) {
    super(message)
  }
}

/** The active client sent nothing, or took none of its replies, for `idleTimeout` ms. */
export class OnelineIdleTimeoutError extends OnelineError {
  override name = 'OnelineIdleTimeoutError'
  override readonly code = ErrorCode.IDLE_TIMEOUT
  /** The limit, in milliseconds. */
  readonly timeout: number
  constructor(timeout: number, options?: ErrorOptions) {
    super(`client idle for ${timeout} ms`, options)
    this.timeout = timeout
  }
}

/** A command or response line given by the caller contains LF, so it would become two lines. */
export class OnelineInvalidLineError extends OnelineError {
  override name = 'OnelineInvalidLineError'
  override readonly code = ErrorCode.INVALID_LINE
  constructor(options?: ErrorOptions) {
    super('a line must not contain LF', options)
  }
}

/** `ctx.send` was called after the handler settled: the server never writes unprompted. */
export class OnelineUnpromptedError extends OnelineError {
  override name = 'OnelineUnpromptedError'
  override readonly code = ErrorCode.UNPROMPTED
  constructor() {
    super('ctx.send called after the handler settled')
  }
}

/** The reply to `ping` was not `pong`. */
export class OnelineBadPongError extends OnelineError {
  override name = 'OnelineBadPongError'
  override readonly code = ErrorCode.BAD_PONG
  /** The line received instead of `pong`, exactly as it came. */
  readonly line: string
  constructor(line: string) {
    // The line is the server's text: escaped, so that a message printed as it is drives no terminal.
    super(`expected pong, got '${escapeControl(line)}'`)
    this.line = line
  }
}

/** The connection ended before the expected lines; `cause` is the socket or limit error if any. */
export class OnelineClosedError extends OnelineError {
  override name = 'OnelineClosedError'
  override readonly code = ErrorCode.CLOSED
  constructor(message = 'connection closed', options?: ErrorOptions) {
    super(message, options)
  }
}

/**
 * A caller's deadline passed: a request, a send, a disconnect, the wait for `pong`, or the
 * connect itself. `name` is `'TimeoutError'` and the message says what timed out.
 */
export class OnelineTimeoutError extends TimeoutError {
  override readonly code = ErrorCode.TIMEOUT
}

/** The connection could not be opened (TCP, unix socket or TLS); `cause` says why. */
export class OnelineConnectError extends ConnectError {
  override name = 'OnelineConnectError'
  override readonly code = ErrorCode.CONNECT
}

/** The server could not listen, or its listening socket failed to accept; `cause` says why. */
export class OnelineListenError extends ListenError {
  override name = 'OnelineListenError'
  override readonly code = ErrorCode.LISTEN
}

/** A connection arrived while `maxConnections` were open, TLS handshakes and PROXY headers included. */
export class OnelineTooManyConnectionsError extends TooManyConnectionsError {
  override name = 'OnelineTooManyConnectionsError'
  override readonly code = ErrorCode.TOO_MANY_CONNECTIONS
}

/** A TLS client failed its handshake, or did not finish it in time. */
export class OnelineTlsHandshakeError extends TlsHandshakeError {
  override name = 'OnelineTlsHandshakeError'
  override readonly code = ErrorCode.TLS_HANDSHAKE
}

/** With `proxyProtocol` on, a connection did not open with a valid PROXY header; `reason` says how. */
export class OnelineProxyHeaderError extends ProxyHeaderError {
  override name = 'OnelineProxyHeaderError'
  override readonly code = ErrorCode.PROXY_HEADER
  constructor(reason: ProxyHeaderFailure, message: string, options?: ErrorOptions) {
    // The message may quote what the peer sent in place of a header.
    super(reason, escapeControl(message), options)
  }
}

/** The classes framing's connect and listener make their errors with, so that they carry oneline codes. */
export const ONELINE_ERRORS: PlumbingErrors = {
  Timeout: OnelineTimeoutError,
  Connect: OnelineConnectError,
  Listen: OnelineListenError,
  TooManyConnections: OnelineTooManyConnectionsError,
  TlsHandshake: OnelineTlsHandshakeError,
  ProxyHeader: OnelineProxyHeaderError,
}

const mapFramingError = errorMapper({
  codes: {
    [ProtoErrorCode.FRAME_TOO_LARGE]: (err) => new OnelineLineTooLongError((err as FrameTooLargeError).limit, { cause: err }),
    [ProtoErrorCode.INVALID_FRAME]: (err) => new OnelineInvalidLineError({ cause: err }),
    [ProtoErrorCode.IDLE_TIMEOUT]: (err) => new OnelineIdleTimeoutError((err as IdleTimeoutError).timeout, { cause: err }),
    // A capture that stops inside a line: the connection ended before the line did.
    [ProtoErrorCode.TRUNCATED_FRAME]: (err) => new OnelineClosedError(err.message, { cause: err }),
  },
  closed: (message, cause) => new OnelineClosedError(message, { cause }),
  // What else reaches a connection's reads and writes is a socket's error: the connection is gone.
  fallback: (err) => new OnelineClosedError(isProtoError(err) ? err.message : 'connection closed', { cause: err }),
})

/**
 * What a connection failure means for oneline: framing's errors under the oneline prefix (a line
 * too long, an LF in a line, the idle limit, a failed stream as `ERR_ONELINE_CLOSED` with what
 * ended it as `cause`), a socket error as `ERR_ONELINE_CLOSED` with it as `cause`; oneline's own
 * errors, `ERR_PROTO_USAGE` and `ERR_PROTO_WRITE_BUFFER_FULL` as they are.
 */
export function toOnelineError(err: unknown): ProtoError {
  return mapFramingError(err) as ProtoError
}
