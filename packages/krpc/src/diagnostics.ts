// The package's node:diagnostics_channel channels, `proto:krpc:*`, and what a request message describes.
import { diagnosticsChannels } from '@proto/framing'
import type { DiagnosticsChannels } from '@proto/framing'
import type { KrpcClient, KrpcConnection } from './types.ts'

/**
 * The request in `proto:krpc:request:*` messages: the same object from start to end or error.
 * On the server `method` is `''` until the call has been read (and stays so for a request that
 * never had one).
 */
export interface KrpcRequestInfo {
  /** The HTTP method: `POST` or `GET` (another for a request the server refuses). */
  readonly verb: string
  /** The KRPC method the call names. */
  method: string
}

/**
 * `proto:krpc:server:listening`, `…:connection:open`, `…:connection:close`, `…:request:start`,
 * `…:request:end` and `…:request:error`. A server's connection messages carry its
 * `KrpcConnection`; a client's carry the `KrpcClient`, once per socket it opens.
 */
export const channels: DiagnosticsChannels<unknown, KrpcConnection | KrpcClient, KrpcRequestInfo> = diagnosticsChannels('krpc')
