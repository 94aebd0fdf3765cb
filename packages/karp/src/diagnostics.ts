// karp's node:diagnostics_channel channels, proto:karp:*, and what its request messages describe.
import { diagnosticsChannels } from '@proto/framing'
import type { DiagnosticsChannels } from '@proto/framing'
import type { KarpConnection, KarpServer } from './types.ts'

/** The `request` of karp's `request:start`, `request:end` and `request:error` messages: the same object for one request. */
export interface KarpRequestInfo {
  /** `'outgoing'`: a `request()` or `notify()` of this end; `'incoming'`: the peer's, served here. */
  readonly direction: 'outgoing' | 'incoming'
  /** Lowercased. */
  readonly route: string
  /** The request id. */
  readonly id: string
  /** `false` for a notification. */
  readonly wantsReply: boolean
}

/** Held at module level: Node keeps a channel only while it is referenced or subscribed to. */
export const channels: DiagnosticsChannels<KarpServer, KarpConnection, KarpRequestInfo> = diagnosticsChannels('karp')
