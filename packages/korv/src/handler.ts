import type { KorvVerb } from './constants.ts'
import { KorvBadHandlerResultError } from './errors.ts'

/** Where a connection comes from. */
export interface PeerInfo {
  address: string
  port: number
}

/** What a handler gets for one request. */
export interface KorvContext {
  readonly verb: KorvVerb
  readonly resource: string
  /** The request's `body`; `null` when a GET or DELETE has none. */
  readonly body: unknown
  /** The request's `id`, echoed as `request_id`. */
  readonly id: unknown
  /** The whole request object, other keys included. */
  readonly request: Record<string, unknown>
  /** The SSH username; korv does not check it. */
  readonly username: string
  /** The authorized key the client signed with. */
  readonly key: { readonly type: string; readonly fingerprint: string }
  readonly peer: PeerInfo
  /** Aborts when the channel closes. */
  readonly signal: AbortSignal
}

/** `{ code, body }` with `code` an integer 100–599 and `body` any JSON (default `null`); nothing means 200 `null`. */
export type KorvResult = { code: number; body?: unknown } | void
export type KorvHandler = (ctx: KorvContext) => KorvResult | Promise<KorvResult>

/** The code and body to send for what a handler returned, or `ERR_KORV_BAD_HANDLER_RESULT`. */
export function checkResult(result: unknown): { code: number; body: unknown } {
  if (result === undefined) return { code: 200, body: null }
  if (typeof result !== 'object' || result === null) {
    throw new KorvBadHandlerResultError(`handler returned ${typeof result}, not { code, body }`)
  }
  const { code, body } = result as { code?: unknown; body?: unknown }
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 100 || code > 599) {
    throw new KorvBadHandlerResultError(`handler returned code ${String(code)}, not an integer from 100 to 599`)
  }
  return { code, body: body ?? null }
}
