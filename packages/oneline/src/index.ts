// The public surface of @proto/oneline: named re-exports only.
export type { CallOptions, ListenAddress, ListenOptions, PathAddress, PeerInfo, TcpAddress } from '@proto/framing'
export { connect } from './client.ts'
export type { OnelineClient, OnelineConnectOptions, OnelineRequestOptions } from './client.ts'
export { decodeCommand, encodeLine } from './codec.ts'
export {
  Command,
  DEFAULT_BUSY,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_QUEUE,
  DEFAULT_MAX_QUEUED_LINES,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT,
  PONG,
} from './constants.ts'
export { DEMO_MAX_COUNT, demoHandler } from './demo.ts'
export {
  ErrorCode,
  OnelineBadPongError,
  OnelineBusyError,
  OnelineClosedError,
  OnelineConnectError,
  OnelineError,
  OnelineIdleTimeoutError,
  OnelineInvalidLineError,
  OnelineLineTooLongError,
  OnelineListenError,
  OnelineProxyHeaderError,
  OnelineTimeoutError,
  OnelineTlsHandshakeError,
  OnelineTooManyConnectionsError,
  OnelineUnpromptedError,
} from './errors.ts'
export type { OnelineErrorCode } from './errors.ts'
export { createServer } from './server.ts'
export type { OnelineServer, OnelineServerEvents, OnelineServerOptions } from './server.ts'
export type {
  OnelineClientLimits,
  OnelineCommandInfo,
  OnelineConnection,
  OnelineConnectionState,
  OnelineContext,
  OnelineHandler,
  OnelineLimits,
  OnelineReply,
} from './types.ts'
