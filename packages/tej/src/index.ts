export type { CallOptions } from '@proto/framing'
export { connect } from './client.ts'
export type { TejConnectOptions } from './client.ts'
export {
  TejDecoder,
  decodeFrame,
  encodeFrame,
} from './codec.ts'
export type { TejDecodeEvent, TejFile, TejFrame } from './codec.ts'
export type { TejConnection, TejConnectionEvents } from './connection.ts'
export {
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_FILES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_NAME_BYTES,
  DEFAULT_PING_INTERVAL,
  DEFAULT_PORT,
  PING_STATUS,
} from './constants.ts'
export {
  ErrorCode,
  TejBadNameError,
  TejBadStatusBitError,
  TejBufferLimitError,
  TejClosedError,
  TejConnectError,
  TejError,
  TejFileSizeMismatchError,
  TejFileTooLargeError,
  TejIdleTimeoutError,
  TejInvalidStatusError,
  TejLimitError,
  TejMessageTooLargeError,
  TejNameTooLongError,
  TejTooManyConnectionsError,
  TejTooManyFilesError,
  TejTruncatedError,
  TejUnsupportedVersionError,
} from './errors.ts'
export type { TejIncomingFile, TejIncomingFrame } from './incoming.ts'
export type { TejOptions } from './options.ts'
export type { TejFileSource, TejOutgoingFrame } from './outgoing.ts'
export { createServer } from './server.ts'
export type { TejListenOptions, TejServer, TejServerEvents, TejServerOptions } from './server.ts'
