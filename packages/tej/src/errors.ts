// The errors of TEJ: the protocol's own under TejError, the plumbing ones on framing's bases, and the mapping of framing's.
import {
  ConnectError,
  ListenError,
  ErrorCode as ProtoErrorCode,
  ProtoError,
  ProxyHeaderError,
  TimeoutError,
  TlsHandshakeError,
  TooManyConnectionsError,
  errorMapper,
  isProtoError,
} from '@proto/framing'
import type { IdleTimeoutError, PlumbingErrors } from '@proto/framing'

/** Every code this package raises; match on `err.code`, which survives duplicate installs. */
export const ErrorCode = {
  BAD_STATUS_BIT: 'ERR_TEJ_BAD_STATUS_BIT',
  UNSUPPORTED_VERSION: 'ERR_TEJ_UNSUPPORTED_VERSION',
  INVALID_STATUS: 'ERR_TEJ_INVALID_STATUS',
  TOO_MANY_FILES: 'ERR_TEJ_TOO_MANY_FILES',
  NAME_TOO_LONG: 'ERR_TEJ_NAME_TOO_LONG',
  FILE_TOO_LARGE: 'ERR_TEJ_FILE_TOO_LARGE',
  MESSAGE_TOO_LARGE: 'ERR_TEJ_MESSAGE_TOO_LARGE',
  BUFFER_LIMIT: 'ERR_TEJ_BUFFER_LIMIT',
  BAD_NAME: 'ERR_TEJ_BAD_NAME',
  TRUNCATED: 'ERR_TEJ_TRUNCATED',
  IDLE_TIMEOUT: 'ERR_TEJ_IDLE_TIMEOUT',
  STALL_TIMEOUT: 'ERR_TEJ_STALL_TIMEOUT',
  FILE_SIZE_MISMATCH: 'ERR_TEJ_FILE_SIZE_MISMATCH',
  CLOSED: 'ERR_TEJ_CLOSED',
  TIMEOUT: 'ERR_TEJ_TIMEOUT',
  CONNECT: 'ERR_TEJ_CONNECT',
  LISTEN: 'ERR_TEJ_LISTEN',
  TOO_MANY_CONNECTIONS: 'ERR_TEJ_TOO_MANY_CONNECTIONS',
  TLS_HANDSHAKE: 'ERR_TEJ_TLS_HANDSHAKE',
  PROXY_HEADER: 'ERR_TEJ_PROXY_HEADER',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/**
 * The base of the protocol's errors. The plumbing errors (timeout, connect, listen, admission,
 * TLS and PROXY header) extend framing's classes of the same names instead; every one is a
 * `ProtoError` with an `ERR_TEJ_` code.
 */
export class TejError extends ProtoError {
  override name = 'TejError'
  override readonly code: ErrorCode | 'ERR_TEJ' = 'ERR_TEJ'
}

/** The status byte of a received frame lacks bit 7. */
export class TejBadStatusBitError extends TejError {
  override name = 'TejBadStatusBitError'
  override readonly code = ErrorCode.BAD_STATUS_BIT
  readonly statusByte: number

  constructor(statusByte: number) {
    super(`status byte 0x${statusByte.toString(16).padStart(2, '0')} lacks bit 7`)
    this.statusByte = statusByte
  }
}

/** A received frame carries a version other than 1. */
export class TejUnsupportedVersionError extends TejError {
  override name = 'TejUnsupportedVersionError'
  override readonly code = ErrorCode.UNSUPPORTED_VERSION
  readonly version: number

  constructor(version: number) {
    super(`protocol version ${version} is not supported (only 1 is)`)
    this.version = version
  }
}

/** A frame to send has a status that is not an integer from 0 to 127. */
export class TejInvalidStatusError extends TejError {
  override name = 'TejInvalidStatusError'
  override readonly code = ErrorCode.INVALID_STATUS
  readonly status: unknown

  constructor(status: unknown) {
    super(`status must be an integer from 0 to 127, got ${String(status)}`)
    this.status = status
  }
}

/** A declared length is over its limit; `declared` is approximate above 2^53. */
export abstract class TejLimitError extends TejError {
  readonly declared: number
  readonly limit: number

  constructor(what: string, declared: number | bigint, limit: number, options?: ErrorOptions) {
    super(`${what} of ${String(declared)} is over the limit of ${limit}`, options)
    this.declared = Number(declared)
    this.limit = limit
  }
}

/** A frame declares more files than `maxFiles`. */
export class TejTooManyFilesError extends TejLimitError {
  override name = 'TejTooManyFilesError'
  override readonly code = ErrorCode.TOO_MANY_FILES
  constructor(declared: number | bigint, limit: number) {
    super('file count', declared, limit)
  }
}

/** A file name is longer than `maxNameBytes`. */
export class TejNameTooLongError extends TejLimitError {
  override name = 'TejNameTooLongError'
  override readonly code = ErrorCode.NAME_TOO_LONG
  constructor(declared: number, limit: number) {
    super('file name length', declared, limit)
  }
}

/** A file is larger than `maxFileBytes`, or than 2^53 − 1. */
export class TejFileTooLargeError extends TejLimitError {
  override name = 'TejFileTooLargeError'
  override readonly code = ErrorCode.FILE_TOO_LARGE
  constructor(declared: number | bigint, limit: number) {
    super('file size', declared, limit)
  }
}

/** A message is larger than `maxMessageBytes`. */
export class TejMessageTooLargeError extends TejLimitError {
  override name = 'TejMessageTooLargeError'
  override readonly code = ErrorCode.MESSAGE_TOO_LARGE
  constructor(declared: number | bigint, limit: number) {
    super('message length', declared, limit)
  }
}

/** Buffering would pass `maxBufferedBytes`; the frame is discarded, the connection stays. */
export class TejBufferLimitError extends TejLimitError {
  override name = 'TejBufferLimitError'
  override readonly code = ErrorCode.BUFFER_LIMIT
  constructor(declared: number, limit: number) {
    super('buffered size', declared, limit)
  }
}

/** A file name is not valid UTF-8. */
export class TejBadNameError extends TejError {
  override name = 'TejBadNameError'
  override readonly code = ErrorCode.BAD_NAME
  constructor(options?: ErrorOptions) {
    super('file name is not valid UTF-8', options)
  }
}

/** The stream ended inside a frame. */
export class TejTruncatedError extends TejError {
  override name = 'TejTruncatedError'
  override readonly code = ErrorCode.TRUNCATED
  constructor(message = 'stream ended inside a frame', options?: ErrorOptions) {
    super(message, options)
  }
}

/** No byte arrived for `idleTimeout` ms: a server's limit on its peer, not a caller's deadline. */
export class TejIdleTimeoutError extends TejError {
  override name = 'TejIdleTimeoutError'
  override readonly code = ErrorCode.IDLE_TIMEOUT
  /** The limit, in milliseconds. */
  readonly timeout: number
  constructor(timeout: number, options?: ErrorOptions) {
    super(`no byte received for ${timeout} ms (idleTimeout)`, options)
    this.timeout = timeout
  }
}

/**
 * A write of a frame being sent waited `stallTimeout` ms for the peer to take its bytes: a limit on
 * the peer, not a caller's deadline. The send rejects with it and the connection ends with it.
 */
export class TejStallTimeoutError extends TejError {
  override name = 'TejStallTimeoutError'
  override readonly code = ErrorCode.STALL_TIMEOUT
  /** The limit, in milliseconds. */
  readonly timeout: number
  constructor(timeout: number, options?: ErrorOptions) {
    super(`a write of a frame waited ${timeout} ms for the peer to take its bytes (stallTimeout)`, options)
    this.timeout = timeout
  }
}

/** A file source yielded fewer or more bytes than its declared size. */
export class TejFileSizeMismatchError extends TejError {
  override name = 'TejFileSizeMismatchError'
  override readonly code = ErrorCode.FILE_SIZE_MISMATCH
  readonly fileName: string
  readonly declared: number
  /** Bytes yielded when the mismatch was found. */
  readonly actual: number

  constructor(fileName: string, declared: number, actual: number) {
    super(
      actual > declared
        ? `file ${JSON.stringify(fileName)} yielded more than its declared ${declared} bytes`
        : `file ${JSON.stringify(fileName)} ended after ${actual} of its declared ${declared} bytes`,
    )
    this.fileName = fileName
    this.declared = declared
    this.actual = actual
  }
}

/** The connection ended or is closing; `cause` is what ended it, if anything did. */
export class TejClosedError extends TejError {
  override name = 'TejClosedError'
  override readonly code = ErrorCode.CLOSED
  constructor(message = 'connection closed', options?: ErrorOptions) {
    super(message, options)
  }
}

/** A caller's deadline passed (a send, a connect); `name` is `TimeoutError` and the message says what timed out. */
export class TejTimeoutError extends TimeoutError {
  override readonly code = ErrorCode.TIMEOUT
}

/** `connect()` failed; the message names the target, `cause` is the net or TLS error. */
export class TejConnectError extends ConnectError {
  override name = 'TejConnectError'
  override readonly code = ErrorCode.CONNECT
}

/** `listen()` failed, or the listening socket failed to accept (`acceptError`); `cause` says why. */
export class TejListenError extends ListenError {
  override name = 'TejListenError'
  override readonly code = ErrorCode.LISTEN
}

/** A server at `maxConnections` refused a connection before building anything for it. */
export class TejTooManyConnectionsError extends TooManyConnectionsError {
  override name = 'TejTooManyConnectionsError'
  override readonly code = ErrorCode.TOO_MANY_CONNECTIONS
}

/** A peer's TLS handshake failed or did not finish within `handshakeTimeout`. */
export class TejTlsHandshakeError extends TlsHandshakeError {
  override name = 'TejTlsHandshakeError'
  override readonly code = ErrorCode.TLS_HANDSHAKE
}

/** A connection to a `proxyProtocol` listener did not open with a valid PROXY protocol header. */
export class TejProxyHeaderError extends ProxyHeaderError {
  override name = 'TejProxyHeaderError'
  override readonly code = ErrorCode.PROXY_HEADER
}

/** The classes framing's connect and listen raise their failures with. */
export const TEJ_ERRORS: PlumbingErrors = {
  Timeout: TejTimeoutError,
  Connect: TejConnectError,
  Listen: TejListenError,
  TooManyConnections: TejTooManyConnectionsError,
  TlsHandshake: TejTlsHandshakeError,
  ProxyHeader: TejProxyHeaderError,
}

/**
 * Framing's errors under this package's codes (framing.md §2.7); anything else is returned as it
 * is. A connection destroyed with one of our errors reports it back wrapped: it is unwrapped.
 */
export const toTejError: (err: unknown) => unknown = errorMapper({
  codes: {
    [ProtoErrorCode.TRUNCATED_FRAME]: (err) => new TejTruncatedError(undefined, { cause: err }),
    [ProtoErrorCode.IDLE_TIMEOUT]: (err) => new TejIdleTimeoutError((err as IdleTimeoutError).timeout, { cause: err }),
  },
  closed: (message, cause) =>
    isProtoError(cause) && cause.code !== ProtoErrorCode.CLOSED ? toTejError(cause) : new TejClosedError(message, { cause }),
})
