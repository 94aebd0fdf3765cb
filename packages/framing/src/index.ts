export { ByteQueue } from './byte-queue.ts'
export type { ByteReaderInit, FieldReadableOptions, FieldStream } from './byte-reader.ts'
export { ByteReader } from './byte-reader.ts'
export type { FramedConnectionInit } from './connection.ts'
export { FramedConnection } from './connection.ts'
export {
  DEFAULT_FIELD_HIGH_WATER_MARK,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_COMPRESSED_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_PROXY_HEADER_BYTES,
  DEFAULT_MAX_READ_BYTES,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PROXY_HEADER_TIMEOUT,
} from './constants.ts'
export { escapeControl } from './escape.ts'
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
export type { GzipMemberDecoderInit } from './gzip.ts'
export { GzipMemberDecoder } from './gzip.ts'
export type { AsyncFrameDecoder, DecodeFramesOptions, FrameDecoder } from './iterate.ts'
export { decodeFrames } from './iterate.ts'
export type { Endian, LengthPrefixInit } from './length-prefixed.ts'
export { LengthPrefixedDecoder, encodeLengthPrefix, encodeLengthPrefixed } from './length-prefixed.ts'
export type { EncodeLineInit, LineDecoderInit } from './line.ts'
export { LineDecoder, encodeLine } from './line.ts'
export type { CallOptions } from './options.ts'
export { callSignal, checkLimit } from './options.ts'
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
