// oneline's six node:diagnostics_channel channels, held for the life of the process.
import { diagnosticsChannels } from '@proto/framing'
import type { DiagnosticsChannels } from '@proto/framing'
import type { OnelineCommandInfo } from './types.ts'

/**
 * `proto:oneline:server:listening`, `…:connection:open`, `…:connection:close`, `…:request:start`,
 * `…:request:end` and `…:request:error`. The server object of `server:listening` is the
 * `OnelineServer`; the connection of the others is a server's `OnelineConnection` or the
 * `OnelineClient`; the request is an `OnelineCommandInfo`.
 */
export const channels: DiagnosticsChannels<object, object, OnelineCommandInfo> = diagnosticsChannels('oneline')
