export type { CallOptions } from '@proto/framing'
export { decodeCommand, encodeLine } from './codec.ts'
export { connect } from './client.ts'
export type { OnelineClient, OnelineConnectOptions, OnelineRequestOptions } from './client.ts'
export {
  Command,
  DEFAULT_BUSY,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_QUEUE,
  DEFAULT_MAX_QUEUED_LINES,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT,
  PONG,
} from './constants.ts'
export { DEMO_MAX_COUNT, demoHandler } from './demo-handler.ts'
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
  OnelineUnpromptedError,
} from './errors.ts'
export type { OnelineErrorCode } from './errors.ts'
export { createServer } from './server.ts'
export type {
  OnelineContext,
  OnelineHandler,
  OnelineReply,
  OnelineServer,
  OnelineServerEvents,
  OnelineServerOptions,
  PeerInfo,
} from './server.ts'
