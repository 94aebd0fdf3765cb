export { connect } from './client.ts'
export type { KarpConnectOptions } from './client.ts'
export { decodeFrame, encodeRequest, encodeResponse } from './codec.ts'
export type {
  EncodeOptions,
  KarpFrame,
  KarpFrameHeader,
  KarpPayload,
  KarpRequestFrame,
  KarpRequestHeader,
  KarpResponseFrame,
  KarpResponseHeader,
} from './codec.ts'
export {
  DEFAULT_HOST,
  DEFAULT_KEEP_ALIVE,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT,
} from './constants.ts'
export {
  ErrorCode,
  KarpBadBase64Error,
  KarpBadFrameError,
  KarpBadHandlerResultError,
  KarpClosedError,
  KarpConnectError,
  KarpDataError,
  KarpError,
  KarpFrameTooLargeError,
  KarpInvalidRouteError,
  KarpLengthMismatchError,
  KarpListenError,
  KarpTooManyConnectionsError,
  KarpTooManyInFlightError,
  RemoteError,
} from './errors.ts'
export type { CallOptions } from '@proto/framing'
export type {
  KarpContext,
  KarpHandler,
  KarpOptions,
  KarpPeer,
  KarpPeerEvents,
  KarpReply,
  KarpResult,
} from './peer.ts'
export { createServer } from './server.ts'
export type { KarpServer, KarpServerEvents, KarpServerOptions } from './server.ts'
