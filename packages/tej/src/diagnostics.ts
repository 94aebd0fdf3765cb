// The package's node:diagnostics_channel channels, proto:tej:*, typed with its server, connection and frame.
import { diagnosticsChannels } from '@proto/framing'
import type { DiagnosticsChannels } from '@proto/framing'
import type { TejConnection, TejFrameInfo, TejServer } from './types.ts'

/**
 * `proto:tej:server:listening`, `…:connection:open`, `…:connection:close`, `…:request:start`,
 * `…:request:end` and `…:request:error`, where a request is a frame, received or sent. Held here
 * for the life of the module: Node keeps a channel only while it is referenced or subscribed to.
 */
export const channels: DiagnosticsChannels<TejServer, TejConnection, TejFrameInfo> = diagnosticsChannels('tej')
