import { ProtoError } from '@proto/framing'
import type { KarpFrameHeader } from './codec.ts'

/** Every code karp raises. Match on `err.code`: it survives duplicate installs, `instanceof` does not. */
export const ErrorCode = {
  INVALID_ROUTE: 'ERR_KARP_INVALID_ROUTE',
  BAD_FRAME: 'ERR_KARP_BAD_FRAME',
  LENGTH_MISMATCH: 'ERR_KARP_LENGTH_MISMATCH',
  BAD_BASE64: 'ERR_KARP_BAD_BASE64',
  FRAME_TOO_LARGE: 'ERR_KARP_FRAME_TOO_LARGE',
  TOO_MANY_IN_FLIGHT: 'ERR_KARP_TOO_MANY_IN_FLIGHT',
  BAD_HANDLER_RESULT: 'ERR_KARP_BAD_HANDLER_RESULT',
  REMOTE: 'ERR_KARP_REMOTE',
  CLOSED: 'ERR_KARP_CLOSED',
  CONNECT: 'ERR_KARP_CONNECT',
  LISTEN: 'ERR_KARP_LISTEN',
  TOO_MANY_CONNECTIONS: 'ERR_KARP_TOO_MANY_CONNECTIONS',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** The base of every karp error. */
export abstract class KarpError extends ProtoError {
  override name = 'KarpError'
  abstract override readonly code: ErrorCode
}

/** A route is not `[a-z_]+` once lowercased; raised before anything is sent or registered. */
export class KarpInvalidRouteError extends KarpError {
  override name = 'KarpInvalidRouteError'
  override readonly code = ErrorCode.INVALID_ROUTE
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
  readonly size: number
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
  readonly route: string

  constructor(route: string, type: string) {
    super(`route '${route}' returned ${type}; expected string, Uint8Array or undefined`)
    this.route = route
  }
}

/** The peer answered with success 0: `message` is its text, `data` the raw bytes. */
export class RemoteError extends KarpError {
  override name = 'RemoteError'
  override readonly code = ErrorCode.REMOTE
  readonly id: string
  readonly data: Uint8Array

  constructor(id: string, data: Uint8Array) {
    super(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'))
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

/** `connect()` failed; `cause` is the `net` error. */
export class KarpConnectError extends KarpError {
  override name = 'KarpConnectError'
  override readonly code = ErrorCode.CONNECT

  constructor(host: string, port: number, options?: ErrorOptions) {
    super(`cannot connect to ${host}:${port}`, options)
  }
}

/** `listen()` failed; `cause` is the `net` error. */
export class KarpListenError extends KarpError {
  override name = 'KarpListenError'
  override readonly code = ErrorCode.LISTEN

  constructor(host: string, port: number, options?: ErrorOptions) {
    super(`cannot listen on ${host}:${port}`, options)
  }
}

/** A connection arrived while `maxConnections` were open; it was closed at once. */
export class KarpTooManyConnectionsError extends KarpError {
  override name = 'KarpTooManyConnectionsError'
  override readonly code = ErrorCode.TOO_MANY_CONNECTIONS
  readonly limit: number

  constructor(limit: number) {
    super(`${limit} connections are already open (maxConnections)`)
    this.limit = limit
  }
}

/** What a failure reply carries for an error raised here: the code first, so peers can match it. */
export function failureText(err: KarpError): string {
  return `${err.code}: ${err.message}`
}
