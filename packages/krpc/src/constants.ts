// Loaded by browsers through the `browser` build of `./client`: no `node:` modules here.

/** The original's port. */
export const DEFAULT_PORT = 8080
/** Where `listen()` binds and where clients connect when nothing else is said. */
export const DEFAULT_HOST = '127.0.0.1'

/** Bytes of one text field, the call included. */
export const DEFAULT_FIELD_SIZE = 1_048_576
/** Bytes of a field or part name. */
export const DEFAULT_FIELD_NAME_SIZE = 100
/** Bytes of one file part. */
export const DEFAULT_FILE_SIZE = 104_857_600
/** File parts in one body. */
export const DEFAULT_FILES = 16
/** Text fields in one body. */
export const DEFAULT_FIELDS = 16
/** Parts of any kind in one body. */
export const DEFAULT_PARTS = 32
/** Milliseconds without a body byte while the server waits for one. */
export const DEFAULT_BODY_TIMEOUT = 30_000
/** Milliseconds for a request's headers (Node's `headersTimeout`). */
export const DEFAULT_HEADERS_TIMEOUT = 60_000
/** Milliseconds for a whole request (Node's `requestTimeout`). */
export const DEFAULT_REQUEST_TIMEOUT = 600_000
/** Bytes of a request's head, request line included (Node's `maxHeaderSize`). */
export const DEFAULT_MAX_HEADER_SIZE = 16_384
/** Open connections; one more is closed at once. */
export const DEFAULT_MAX_CONNECTIONS = 1024
/** Milliseconds a kept-alive connection may wait for its next request: Node's own `keepAliveTimeout`. */
export const DEFAULT_IDLE_TIMEOUT = 5000

/** Milliseconds a client call may take (for a binary result: until its headers). */
export const DEFAULT_TIMEOUT = 30_000
/** Milliseconds a client's new connection may take to come up, TLS handshake included. */
export const DEFAULT_CONNECT_TIMEOUT = 30_000
/** Bytes of a JSON reply, or of a binary one read with `bytes()`. */
export const DEFAULT_MAX_RESULT_BYTES = 16_777_216

/** Bytes a file argument, and each stream that feeds it, holds while its method is not reading. */
export const FILE_HIGH_WATER_MARK = 65_536

/** A string parameter with this prefix names the file part of that whole name. */
export const FILE_PREFIX = '__file__:'

/** The JSON-RPC error codes on the wire: -32700 to -32003 are the original's, the rest are new. */
export const RpcCode = {
  PARSE_ERROR: -32_700,
  INVALID_REQUEST: -32_600,
  METHOD_NOT_FOUND: -32_601,
  METHOD_EXCEPTION: -32_000,
  UNHANDLED_EXCEPTION: -32_001,
  MISSING_FILE: -32_002,
  NOT_SERIALIZABLE: -32_003,
  FIELD_TOO_LARGE: -32_004,
  FILE_TOO_LARGE: -32_005,
  TOO_MANY_PARTS: -32_006,
  REQUEST_TIMEOUT: -32_007,
} as const

export type RpcCode = (typeof RpcCode)[keyof typeof RpcCode]

/** The `message` the server sends with each code, word for word the original's where it had one. */
export const RPC_MESSAGES: Readonly<Record<RpcCode, string>> = {
  [RpcCode.PARSE_ERROR]: 'Parse error.',
  [RpcCode.INVALID_REQUEST]: 'Invalid request.',
  [RpcCode.METHOD_NOT_FOUND]: 'Method not found.',
  [RpcCode.METHOD_EXCEPTION]: 'Method call raised an exception.',
  [RpcCode.UNHANDLED_EXCEPTION]: 'Unhandled exception.',
  [RpcCode.MISSING_FILE]: 'Missing file object.',
  [RpcCode.NOT_SERIALIZABLE]: 'Object is not JSON serializable.',
  [RpcCode.FIELD_TOO_LARGE]: 'Field too large.',
  [RpcCode.FILE_TOO_LARGE]: 'File too large.',
  [RpcCode.TOO_MANY_PARTS]: 'Too many parts.',
  [RpcCode.REQUEST_TIMEOUT]: 'Request timeout.',
}
