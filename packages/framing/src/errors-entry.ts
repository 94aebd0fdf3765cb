// The browser-safe entry `@proto/framing/errors`: errors, call options and deadlines, no `node:` module.
export type { KnownOptions, OptionNames } from './check-options.ts'
export { checkOptions } from './check-options.ts'
export type { CallGuard, Deadline, DeadlineSignal } from './deadlines.ts'
export { DeadlineScheduler, checkTimeout, deadlineSignal, guardCall } from './deadlines.ts'
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
  ProxyHeaderError,
  TruncatedFrameError,
  UsageError,
  WriteBufferFullError,
  isProtoError,
} from './errors.ts'
export type { PlumbingErrors, ProxyHeaderFailure } from './errors.ts'
export type { CallOptions } from './options.ts'
export { checkLimit } from './options.ts'
