// The public surface of @proto/karp: named re-exports only.
export type { CallOptions, ListenAddress, ListenOptions, PathAddress, PeerInfo, TcpAddress } from '@proto/framing'
export { connect } from './client.ts'
export { decodeFrame, encodeRequest, encodeResponse } from './codec.ts'
export type { EncodeOptions } from './codec.ts'
export {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_KEEP_ALIVE,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT,
} from './constants.ts'
export type { KarpRequestInfo } from './diagnostics.ts'
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
  KarpIdleTimeoutError,
  KarpInvalidRouteError,
  KarpLengthMismatchError,
  KarpListenError,
  KarpProxyHeaderError,
  KarpTimeoutError,
  KarpTlsHandshakeError,
  KarpTooManyConnectionsError,
  KarpTooManyInFlightError,
  KarpUnknownRouteError,
  RemoteError,
} from './errors.ts'
export type {
  KarpFrame,
  KarpFrameHeader,
  KarpPayload,
  KarpRequestFrame,
  KarpRequestHeader,
  KarpResponseFrame,
  KarpResponseHeader,
} from './frame.ts'
export { createServer } from './server.ts'
export type {
  KarpClientError,
  KarpConnectOptions,
  KarpConnection,
  KarpConnectionEvents,
  KarpContext,
  KarpHandler,
  KarpHandlers,
  KarpLimits,
  KarpOptions,
  KarpReply,
  KarpRequest,
  KarpResult,
  KarpServer,
  KarpServerEvents,
  KarpServerLimits,
  KarpServerOptions,
} from './types.ts'
