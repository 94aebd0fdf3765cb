import { ErrorCode as ProtoErrorCode, isProtoError, ProtoError, WriteBufferFullError } from '@proto/framing'

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
} as const
export type OnelineErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** Base of every oneline error. */
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

/** The active client sent nothing for `idleTimeout` ms. */
export class OnelineIdleTimeoutError extends OnelineError {
  override name = 'OnelineIdleTimeoutError'
  override readonly code = ErrorCode.IDLE_TIMEOUT
  readonly timeout: number
  constructor(timeout: number, options?: ErrorOptions) {
    super(`client silent for ${timeout} ms`, options)
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
  /** The line received instead of `pong`. */
  readonly line: string
  constructor(line: string) {
    super(`expected pong, got ${JSON.stringify(line)}`)
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

/** The TCP connection could not be opened; `cause` is the `net` error. */
export class OnelineConnectError extends OnelineError {
  override name = 'OnelineConnectError'
  override readonly code = ErrorCode.CONNECT
  constructor(host: string, port: number, cause: unknown) {
    super(`cannot connect to ${host}:${port}`, { cause })
  }
}

/**
 * What a connection failure means for oneline: framing errors under the oneline prefix (framing
 * §2.7), `ERR_PROTO_WRITE_BUFFER_FULL` unchanged, and anything else (a socket error) as
 * `ERR_ONELINE_CLOSED` with it as `cause`.
 */
export function toOnelineError(
  err: unknown,
  limits: { maxLineBytes: number; idleTimeout: number },
): OnelineError | WriteBufferFullError {
  if (err instanceof OnelineError || err instanceof WriteBufferFullError) return err
  if (!isProtoError(err)) return new OnelineClosedError(undefined, { cause: err })
  switch (err.code) {
    case ProtoErrorCode.FRAME_TOO_LARGE:
    case ProtoErrorCode.BAD_LENGTH:
      return new OnelineLineTooLongError(limits.maxLineBytes, { cause: err })
    case ProtoErrorCode.INVALID_FRAME:
      return new OnelineInvalidLineError({ cause: err })
    case ProtoErrorCode.IDLE_TIMEOUT:
      return new OnelineIdleTimeoutError(limits.idleTimeout, { cause: err })
    default:
      // A failed stream arrives as ClosedError, whose cause is the socket error.
      return new OnelineClosedError(err.message, { cause: err.cause ?? err })
  }
}
