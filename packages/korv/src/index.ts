// The public surface of @proto/korv: named re-exports only.
export { createServer } from './server.ts'
export type { KorvHandlers, KorvPeer, KorvServer, KorvServerEvents, KorvServerOptions } from './server.ts'
export { connect } from './client.ts'
export type { KorvClient, KorvClientEvents, KorvClientLimits, KorvConnectOptions, KorvReply } from './client.ts'
export type { KorvConnection, KorvContext, KorvHandler, KorvResult } from './types.ts'
export type { PeerInfo } from '@proto/framing'
export type { KorvRequestInfo } from './diagnostics.ts'
export type { KeyInput } from './key-input.ts'
export { encodeJson, encodeMessage, parseRequest } from './codec.ts'
export type { KorvRequest } from './codec.ts'
export {
  DEFAULT_CALL_TIMEOUT,
  DEFAULT_COMPRESSION_LEVEL,
  DEFAULT_COMPRESSION_THRESHOLD,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_LIMITS,
  DEFAULT_MAX_AUTH_ATTEMPTS,
  DEFAULT_MAX_CHANNEL_REPLY_BYTES,
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_CONNECTION_REPLY_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_JSON_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PORT,
  VERBS,
} from './constants.ts'
export type { KorvCompressionOptions, KorvLimits, KorvVerb } from './constants.ts'
export {
  ErrorCode,
  KorvAuthFailedError,
  KorvBadHandlerResultError,
  KorvBadKeyError,
  KorvBadKeyLineError,
  KorvBadMessageError,
  KorvChannelRefusedError,
  KorvChannelWindowError,
  KorvClosedError,
  KorvConnectError,
  KorvError,
  KorvHandshakeTimeoutError,
  KorvHostKeyError,
  KorvIdleTimeoutError,
  KorvListenError,
  KorvProxyHeaderError,
  KorvTimeoutError,
  KorvMessageTooLargeError,
  KorvSlowReaderError,
  KorvTooManyChannelsError,
  KorvTooManyConnectionsError,
  KorvTooManyInFlightError,
  KorvUnknownVerbError,
  KorvUnserializableError,
  RemoteError,
} from './errors.ts'
export type { KorvErrorCode, KorvRejection } from './errors.ts'
