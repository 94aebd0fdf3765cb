// The browser-safe entry `@proto/framing/errors`: errors and call options only.
export type { ProxyHeaderFailure } from './errors.ts'
export {
  BadLengthError,
  ClosedError,
  ErrorCode,
  FrameTooLargeError,
  IdleTimeoutError,
  InvalidFrameError,
  ProtoError,
  ProxyHeaderError,
  TruncatedFrameError,
  UsageError,
  WriteBufferFullError,
  isProtoError,
} from './errors.ts'
export type { CallOptions } from './options.ts'
export { callSignal, checkLimit } from './options.ts'
