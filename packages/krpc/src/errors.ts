// The package's errors and their codes; no `node:` module and no Buffer, for the browser build of `./client`.
import {
  ConnectError,
  ListenError,
  ProtoError,
  ProxyHeaderError,
  TimeoutError,
  TlsHandshakeError,
  TooManyConnectionsError,
} from '@proto/framing/errors'
import type { PlumbingErrors } from '@proto/framing/errors'
import { RPC_MESSAGES, RpcCode } from './constants.ts'

/** Every code this package raises; match on `err.code`, which survives duplicate installs. */
export const ErrorCode = {
  REMOTE: 'ERR_KRPC_REMOTE',
  HTTP_STATUS: 'ERR_KRPC_HTTP_STATUS',
  BAD_RESPONSE: 'ERR_KRPC_BAD_RESPONSE',
  RESULT_TOO_LARGE: 'ERR_KRPC_RESULT_TOO_LARGE',
  FILE_SIZE_MISMATCH: 'ERR_KRPC_FILE_SIZE_MISMATCH',
  UNSERIALIZABLE: 'ERR_KRPC_UNSERIALIZABLE',
  CLOSED: 'ERR_KRPC_CLOSED',
  CONNECT: 'ERR_KRPC_CONNECT',
  TIMEOUT: 'ERR_KRPC_TIMEOUT',
  LISTEN: 'ERR_KRPC_LISTEN',
  BAD_REQUEST: 'ERR_KRPC_BAD_REQUEST',
  FIELD_TOO_LARGE: 'ERR_KRPC_FIELD_TOO_LARGE',
  FILE_TOO_LARGE: 'ERR_KRPC_FILE_TOO_LARGE',
  TOO_MANY_PARTS: 'ERR_KRPC_TOO_MANY_PARTS',
  BODY_TIMEOUT: 'ERR_KRPC_BODY_TIMEOUT',
  TRUNCATED: 'ERR_KRPC_TRUNCATED',
  TOO_MANY_CONNECTIONS: 'ERR_KRPC_TOO_MANY_CONNECTIONS',
  TLS_HANDSHAKE: 'ERR_KRPC_TLS_HANDSHAKE',
  PROXY_HEADER: 'ERR_KRPC_PROXY_HEADER',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** The base of every error this package raises. */
export class KrpcError extends ProtoError {
  override name = 'KrpcError'
  override readonly code: string = 'ERR_KRPC'
}

/** What a KRPC server reported: its `error` object, at any HTTP status. */
export class RemoteError extends KrpcError {
  override name = 'RemoteError'
  override readonly code: typeof ErrorCode.REMOTE = ErrorCode.REMOTE
  /** The JSON-RPC `code`, e.g. -32601. */
  readonly rpcCode: number
  /** The error's `info`, present only when the server sent one. */
  declare readonly data?: unknown
  /** The HTTP status of the reply. */
  readonly status: number

  constructor(rpcCode: number, message: string, status: number, data?: { info: unknown }) {
    super(message)
    this.rpcCode = rpcCode
    this.status = status
    if (data !== undefined) Object.defineProperty(this, 'data', { value: data.info, enumerable: true })
  }
}

// The command line prints the KRPC code and the server's info under the error's line, and adds
// them to its --json error (framing's ERROR_DETAILS, a global symbol: the browser build has no framing CLI).
Object.defineProperty(RemoteError.prototype, Symbol.for('@proto/error-details'), {
  get(this: RemoteError): Record<string, unknown> {
    return { rpcCode: this.rpcCode, ...(this.data === undefined ? {} : { data: this.data }) }
  },
})

/** A non-2xx reply that carries no KRPC error, such as the original's HTML error pages. */
export class KrpcHttpStatusError extends KrpcError {
  override name = 'KrpcHttpStatusError'
  override readonly code: typeof ErrorCode.HTTP_STATUS = ErrorCode.HTTP_STATUS
  readonly status: number

  constructor(status: number, statusText: string) {
    super(`HTTP ${status}${statusText === '' ? '' : ` ${statusText}`}`)
    this.status = status
  }
}

// The command line counts an HTTP error status as the peer's error, as it does a RemoteError.
Object.defineProperty(KrpcHttpStatusError.prototype, Symbol.for('@proto/remote-error'), { value: true })

/** A 2xx reply that is neither binary nor a JSON object with `result` or `error`. */
export class KrpcBadResponseError extends KrpcError {
  override name = 'KrpcBadResponseError'
  override readonly code: typeof ErrorCode.BAD_RESPONSE = ErrorCode.BAD_RESPONSE
  readonly status: number

  constructor(message: string, status: number, options?: ErrorOptions) {
    super(message, options)
    this.status = status
  }
}

/** A JSON reply, or a binary one read with `bytes()`, is over `maxResultBytes`. */
export class KrpcResultTooLargeError extends KrpcError {
  override name = 'KrpcResultTooLargeError'
  override readonly code: typeof ErrorCode.RESULT_TOO_LARGE = ErrorCode.RESULT_TOO_LARGE
  /** Bytes received or announced; at least `limit + 1`. */
  readonly size: number
  readonly limit: number

  constructor(size: number, limit: number) {
    super(`reply of ${size} bytes is over maxResultBytes (${limit})`)
    this.size = size
    this.limit = limit
  }
}

/** A file input whose size was given or measured delivered a different number of bytes. */
export class KrpcFileSizeMismatchError extends KrpcError {
  override name = 'KrpcFileSizeMismatchError'
  override readonly code: typeof ErrorCode.FILE_SIZE_MISMATCH = ErrorCode.FILE_SIZE_MISMATCH
  readonly field: string
  readonly expected: number
  /** Bytes delivered; for a source that ran long, the count when it passed `expected`. */
  readonly actual: number

  constructor(field: string, expected: number, actual: number) {
    super(`file part ${field} was to have ${expected} bytes, its source gave ${actual}`)
    this.field = field
    this.expected = expected
    this.actual = actual
  }
}

/** A value is not plain JSON data: a call's params on the client, a result on the server (-32003). */
export class KrpcUnserializableError extends KrpcError {
  override name = 'KrpcUnserializableError'
  override readonly code: typeof ErrorCode.UNSERIALIZABLE = ErrorCode.UNSERIALIZABLE
  readonly rpcCode: typeof RpcCode.NOT_SERIALIZABLE = RpcCode.NOT_SERIALIZABLE
}

/** No complete reply arrived (the connection ended), or the client is closed. */
export class KrpcClosedError extends KrpcError {
  override name = 'KrpcClosedError'
  override readonly code: typeof ErrorCode.CLOSED = ErrorCode.CLOSED
}

/** The connection to the server could not be made; `target` names it, `cause` says why. */
export class KrpcConnectError extends ConnectError {
  override name = 'KrpcConnectError'
  override readonly code: typeof ErrorCode.CONNECT = ErrorCode.CONNECT
}

/**
 * A caller's deadline passed: a call, or connecting. `name` is `TimeoutError`; the message says
 * what timed out (`call 'echo' timed out after 30000 ms`).
 */
export class KrpcTimeoutError extends TimeoutError {
  override readonly code: typeof ErrorCode.TIMEOUT = ErrorCode.TIMEOUT
}

/** `listen()` failed, or the listening socket failed to accept; `address` names it, `cause` says why. */
export class KrpcListenError extends ListenError {
  override name = 'KrpcListenError'
  override readonly code: typeof ErrorCode.LISTEN = ErrorCode.LISTEN
}

/** A TLS peer failed or stalled its handshake; the connection was closed before any request. */
export class KrpcTlsHandshakeError extends TlsHandshakeError {
  override name = 'KrpcTlsHandshakeError'
  override readonly code: typeof ErrorCode.TLS_HANDSHAKE = ErrorCode.TLS_HANDSHAKE
}

/** With `proxyProtocol`, a connection did not open with a valid PROXY header; `reason` says how. */
export class KrpcProxyHeaderError extends ProxyHeaderError {
  override name = 'KrpcProxyHeaderError'
  override readonly code: typeof ErrorCode.PROXY_HEADER = ErrorCode.PROXY_HEADER
}

/**
 * A request the server refused or could not finish reading. `rpcCode`, `status` and `info` are
 * what the reply carries (nothing is sent for a peer that went away).
 */
export class KrpcRequestError extends KrpcError {
  override name = 'KrpcRequestError'
  readonly rpcCode: number
  readonly status: number
  /** The reply's `info`; omitted from the wire when empty. */
  readonly info: string

  constructor(message: string, rpcCode: number, status: number, info: string, options?: ErrorOptions) {
    super(message, options)
    this.rpcCode = rpcCode
    this.status = status
    this.info = info
  }
}

/**
 * -32600 with 400, 415 or 501: no call, a file part before it, a malformed body, another content
 * type or verb. `decodeCall` raises it with status 200 for -32700 and -32600.
 */
export class KrpcBadRequestError extends KrpcRequestError {
  override name = 'KrpcBadRequestError'
  override readonly code: typeof ErrorCode.BAD_REQUEST = ErrorCode.BAD_REQUEST

  constructor(info: string, status: number, rpcCode: RpcCode = RpcCode.INVALID_REQUEST, options?: ErrorOptions) {
    super(info === '' ? RPC_MESSAGES[rpcCode] : info, rpcCode, status, info, options)
  }
}

/** A text field over `fieldSize`, or a field or part name over `fieldNameSize` (-32004, 413). */
export class KrpcFieldTooLargeError extends KrpcRequestError {
  override name = 'KrpcFieldTooLargeError'
  override readonly code: typeof ErrorCode.FIELD_TOO_LARGE = ErrorCode.FIELD_TOO_LARGE
  readonly limit: number

  constructor(option: 'fieldSize' | 'fieldNameSize', limit: number) {
    super(`a field is over ${option} (${limit} bytes)`, RpcCode.FIELD_TOO_LARGE, 413, option)
    this.limit = limit
  }
}

/** A file part over `fileSize` (-32005, 413); its stream errors with this. */
export class KrpcFileTooLargeError extends KrpcRequestError {
  override name = 'KrpcFileTooLargeError'
  override readonly code: typeof ErrorCode.FILE_TOO_LARGE = ErrorCode.FILE_TOO_LARGE
  readonly field: string
  readonly limit: number

  constructor(field: string, limit: number) {
    super(`file part ${field} is over fileSize (${limit} bytes)`, RpcCode.FILE_TOO_LARGE, 413, 'fileSize')
    this.field = field
    this.limit = limit
  }
}

/** More file parts than `files`, text fields than `fields` or parts than `parts` (-32006, 413). */
export class KrpcTooManyPartsError extends KrpcRequestError {
  override name = 'KrpcTooManyPartsError'
  override readonly code: typeof ErrorCode.TOO_MANY_PARTS = ErrorCode.TOO_MANY_PARTS
  readonly limit: number

  constructor(option: 'files' | 'fields' | 'parts', limit: number) {
    super(`the body has more than ${limit} ${option}`, RpcCode.TOO_MANY_PARTS, 413, option)
    this.limit = limit
  }
}

/** No body byte arrived for `bodyTimeout` ms while the server waited for one (-32007, 408). */
export class KrpcBodyTimeoutError extends KrpcRequestError {
  override name = 'KrpcBodyTimeoutError'
  override readonly code: typeof ErrorCode.BODY_TIMEOUT = ErrorCode.BODY_TIMEOUT
  readonly timeout: number

  constructor(timeout: number) {
    super(`no body byte for ${timeout} ms`, RpcCode.REQUEST_TIMEOUT, 408, 'bodyTimeout')
    this.timeout = timeout
  }
}

/** The peer went away in the middle of its request body; file streams error with this. */
export class KrpcTruncatedError extends KrpcRequestError {
  override name = 'KrpcTruncatedError'
  override readonly code: typeof ErrorCode.TRUNCATED = ErrorCode.TRUNCATED

  constructor(options?: ErrorOptions) {
    super('the peer went away in the middle of the request body', RpcCode.INVALID_REQUEST, 400, 'Malformed request body.', options)
  }
}

/** A connection past `maxConnections`, closed at once, before any request. */
export class KrpcTooManyConnectionsError extends TooManyConnectionsError {
  override name = 'KrpcTooManyConnectionsError'
  override readonly code: typeof ErrorCode.TOO_MANY_CONNECTIONS = ErrorCode.TOO_MANY_CONNECTIONS
}

/** What a server reports as `clientError`: a request it refused or could not read, or a connection refused before any request. */
export type KrpcClientError = KrpcRequestError | KrpcTooManyConnectionsError | KrpcTlsHandshakeError | KrpcProxyHeaderError

/** The classes framing's connect and listen raise under this package's codes. */
export const KRPC_ERRORS: PlumbingErrors = {
  Timeout: KrpcTimeoutError,
  Connect: KrpcConnectError,
  Listen: KrpcListenError,
  TooManyConnections: KrpcTooManyConnectionsError,
  TlsHandshake: KrpcTlsHandshakeError,
  ProxyHeader: KrpcProxyHeaderError,
}
