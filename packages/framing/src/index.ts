// The public entry of @proto/framing: decoders and encoders, the byte reader, framed connections, connect and listen, deadlines, errors, diagnostics and the PROXY protocol.
export type { ListenAddress, PathAddress, TcpAddress } from './address.ts'
export { ByteQueue } from './byte-queue.ts'
export type { ByteReaderInit, FieldReadableOptions, FieldStream } from './byte-reader.ts'
export { ByteReader } from './byte-reader.ts'
export type { KnownOptions, OptionNames } from './check-options.ts'
export { checkOptions } from './check-options.ts'
export type { ConnectInit, ConnectOptions } from './connect.ts'
export { CONNECT_OPTION_NAMES, connectStream, describeTarget } from './connect.ts'
export type { FramedConnectionInit } from './connection.ts'
export { FramedConnection } from './connection.ts'
export {
  DEFAULT_BACKLOG,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_FIELD_HIGH_WATER_MARK,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_COMPRESSED_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_PROXY_HEADER_BYTES,
  DEFAULT_MAX_READ_BYTES,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PROXY_HEADER_TIMEOUT,
} from './constants.ts'
export type { CallGuard, Deadline, DeadlineSignal } from './deadlines.ts'
export { DeadlineScheduler, checkTimeout, deadlineSignal, guardCall } from './deadlines.ts'
export type {
  ConnectionCloseMessage,
  ConnectionOpenMessage,
  DiagnosticsChannels,
  RequestErrorMessage,
  RequestMessage,
  ServerListeningMessage,
  Side,
  TypedChannel,
} from './diagnostics.ts'
export { diagnosticsChannels } from './diagnostics.ts'
export type { ErrorMapping, MappedCode } from './error-mapping.ts'
export { errorMapper } from './error-mapping.ts'
export type { PlumbingErrors, ProxyHeaderFailure } from './errors.ts'
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
  ProxyHeaderError,
  TimeoutError,
  TlsHandshakeError,
  TooManyConnectionsError,
  TruncatedFrameError,
  UsageError,
  WriteBufferFullError,
  isProtoError,
} from './errors.ts'
export { escapeControl } from './escape.ts'
export type { GzipMemberDecoderInit } from './gzip.ts'
export { GzipMemberDecoder } from './gzip.ts'
export type { AsyncFrameDecoder, DecodeFramesOptions, FrameDecoder } from './iterate.ts'
export { decodeFrames } from './iterate.ts'
export type { Endian } from './endian.ts'
export type { LengthPrefixInit } from './length-prefixed.ts'
export { LengthPrefixedDecoder, encodeLengthPrefix, encodeLengthPrefixed } from './length-prefixed.ts'
export type { EncodeLineInit, LineDecoderInit } from './line.ts'
export { LineDecoder, encodeLine } from './line.ts'
export type { ListenOptions, ListenerInit } from './listener.ts'
export { LISTEN_OPTION_NAMES, Listener } from './listener.ts'
export type { CallOptions } from './options.ts'
export { checkLimit } from './options.ts'
export type { PeerInfo } from './peer-info.ts'
export { peerInfo } from './peer-info.ts'
export type { ProxyHeaderResult, ReadProxyHeaderOptions } from './proxy-header-reader.ts'
export { readProxyHeader } from './proxy-header-reader.ts'
export type {
  DecodedProxyHeader,
  EncodeProxyHeaderInit,
  ProxyHeader,
  ProxyHeaderDecoderInit,
  ProxyProtocolMode,
  ProxyTlv,
} from './proxy-protocol.ts'
export { ProxyHeaderDecoder, encodeProxyHeader } from './proxy-protocol.ts'
export { retainedBytes } from './retained.ts'
export { toBuffer, toBytes, toText } from './to-buffer.ts'
