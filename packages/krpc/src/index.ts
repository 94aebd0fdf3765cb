// The public surface of @proto/krpc: the server, the Node client, the codec, the errors and the defaults.
export { decodeCall, encodeJson } from './codec.ts'
export type { DecodedCall } from './codec.ts'
export {
  DEFAULT_BODY_TIMEOUT,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_FIELD_NAME_SIZE,
  DEFAULT_FIELD_SIZE,
  DEFAULT_FIELDS,
  DEFAULT_FILE_SIZE,
  DEFAULT_FILES,
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HEADER_SIZE,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_PARTS,
  DEFAULT_PORT,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_TIMEOUT,
  RpcCode,
} from './constants.ts'
export { currentCall } from './context.ts'
export {
  ErrorCode,
  KrpcBadRequestError,
  KrpcBadResponseError,
  KrpcBodyTimeoutError,
  KrpcClosedError,
  KrpcConnectError,
  KrpcError,
  KrpcFieldTooLargeError,
  KrpcFileSizeMismatchError,
  KrpcFileTooLargeError,
  KrpcHttpStatusError,
  KrpcListenError,
  KrpcProxyHeaderError,
  KrpcRequestError,
  KrpcResultTooLargeError,
  KrpcTimeoutError,
  KrpcTlsHandshakeError,
  KrpcTooManyConnectionsError,
  KrpcTooManyPartsError,
  KrpcTruncatedError,
  KrpcUnserializableError,
  RemoteError,
} from './errors.ts'
export type { KrpcClientError } from './errors.ts'
export { createServer } from './server.ts'
export type { KrpcServer, KrpcServerEvents, KrpcServerOptions } from './server.ts'
export { asFile, connect, isBinaryResult } from './client.ts'
export type {
  BinaryResult,
  KrpcCallOptions,
  KrpcClient,
  KrpcClientLimits,
  KrpcConnection,
  KrpcConnectOptions,
  KrpcContext,
  KrpcFile,
  KrpcFileInput,
  KrpcFileOptions,
  KrpcFileSource,
  KrpcLimits,
  KrpcMethod,
  KrpcMethods,
  KrpcProxy,
  PreMethodHook,
} from './types.ts'
export type { PeerInfo } from '@proto/framing'
