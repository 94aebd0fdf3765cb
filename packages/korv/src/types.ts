/** Public types several files share: the connection, the handler and its context (a leaf file). */
import type { PeerInfo } from '@proto/framing'
import type { KorvRequest } from './codec.ts'

/** One SSH connection on the server, as `server.connections`, `clientError` and contexts show it. */
export interface KorvConnection extends PeerInfo {
  /** Who the peer is: the socket's address, or the client a PROXY protocol header names. */
  readonly remote: PeerInfo
  /** The SSH username once authenticated, else ''; korv does not check it. */
  readonly username: string
  /** The authorized key the client signed with; empty strings until it has. */
  readonly key: { readonly type: string; readonly fingerprint: string }
  /** Whether the peer has authenticated. */
  readonly authenticated: boolean
  /** Resolves, never rejects, once the connection is gone. */
  readonly closed: Promise<void>
}

/** What a handler gets beside the request. */
export interface KorvContext {
  /** Who sent the request. */
  readonly remote: PeerInfo
  /** Aborts when the channel closes. */
  readonly signal: AbortSignal
  /** The SSH connection the request came on. */
  readonly connection: KorvConnection
  /** The SSH username; korv does not check it. */
  readonly username: string
  /** The authorized key the client signed with. */
  readonly key: { readonly type: string; readonly fingerprint: string }
}

/** `{ code, body }` with `code` an integer 100–599 and `body` any JSON (default `null`); nothing means 200 `null`. */
export type KorvResult = { code: number; body?: unknown } | void
/** Answers one request; a thrown error is a 500 whose message reaches the peer only with `expose === true`. */
export type KorvHandler = (request: KorvRequest, ctx: KorvContext) => KorvResult | Promise<KorvResult>
