// The browser-safe entry `@proto/framing/errors`: errors and call options only.
export {
  BadLengthError,
  ClosedError,
  ConnectError,
  ErrorCode,
  FrameTooLargeError,
  IdleTimeoutError,
  InvalidFrameError,
  ListenError,
  ProtoError,
  TimeoutError,
  TlsHandshakeError,
  TooManyConnectionsError,
  TruncatedFrameError,
  UsageError,
  WriteBufferFullError,
  isProtoError,
} from './errors.ts'
export type { PlumbingErrors } from './errors.ts'
export type { CallOptions } from './options.ts'
export { callSignal, checkLimit } from './options.ts'
