/** korv's node:diagnostics_channel channels (`proto:korv:*`) and what a request message carries. */
import { diagnosticsChannels } from '@proto/framing'
import type { KorvVerb } from './constants.ts'

/** The `request` of korv's request messages: one korv message and its reply. */
export interface KorvRequestInfo {
  /** The request's verb; `''` for a message the server refused as bad (400). */
  readonly verb: KorvVerb | ''
  /** The request's resource; `''` for a message the server refused as bad (400). */
  readonly resource: string
  /** The request's `id`; for a refused message, the `request_id` its 400 echoes (0 when it had none). */
  readonly id: unknown
  /** The reply's code, once there is one (set before `request:end`). */
  code?: number
}

/** The six channels; a publisher checks `hasSubscribers` first, so nobody listening costs nothing. */
export const channels = diagnosticsChannels<object, object, KorvRequestInfo>('korv')
