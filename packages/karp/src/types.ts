// The public types of karp: connections, handlers, limits, options and the server.
import type { EventEmitter } from 'node:events'
import type { CallOptions, ConnectOptions, ListenAddress, ListenOptions, PathAddress, PeerInfo, TcpAddress } from '@proto/framing'
import type {
  KarpError,
  KarpListenError,
  KarpProxyHeaderError,
  KarpTlsHandshakeError,
  KarpTooManyConnectionsError,
} from './errors.ts'
import type { KarpPayload } from './frame.ts'

/** One incoming request, as its handler receives it. */
export interface KarpRequest {
  /** Lowercased. */
  readonly route: string
  /** The request id: 16 ASCII digits. */
  readonly id: string
  /** The payload. */
  readonly data: Uint8Array
  /** `data` as UTF-8, U+FFFD for bad bytes. */
  readonly text: string
  /** `false` for a notification: the result is not sent. */
  readonly wantsReply: boolean
}

/** What a handler learns besides the request: who asked, on which connection, and whether it still matters. */
export interface KarpContext {
  /** The request this context belongs to. */
  readonly request: KarpRequest
  /** The peer: the connection's `remote`. */
  readonly remote: PeerInfo
  /** Aborts when the connection goes away before the handler is done. */
  readonly signal: AbortSignal
  /** The connection the request came in on: a handler may call the peer back on it. */
  readonly connection: KarpConnection
}

/** `undefined`, `null` and `''` all answer success 1 with empty data. */
export type KarpResult = KarpPayload | null | undefined
/**
 * Serves one route. Its result is the reply; a throw answers success 0 with `internal error`,
 * or with the error's message when the error has `expose: true`.
 */
export type KarpHandler = (request: KarpRequest, ctx: KarpContext) => KarpResult | void | Promise<KarpResult | void>
/** Handlers by route; names are lowercased and must then be `[a-z_]+`. */
export type KarpHandlers = Readonly<Record<string, KarpHandler>>

/** A success-1 answer to `request()`. */
export interface KarpReply {
  /** The id of the request it answers. */
  readonly id: string
  /** The payload. */
  readonly data: Uint8Array
  /** `data` as UTF-8, U+FFFD for bad bytes. */
  text(): string
}

/** The events of a `KarpConnection`. */
export interface KarpConnectionEvents {
  /** A line was dropped, a limit was hit (`idleTimeout` included), or the peer does not read its replies. */
  protocolError: [err: KarpError]
  /** A handler threw or returned something that cannot be sent. */
  handlerError: [err: unknown, ctx: KarpContext]
  /** The connection is gone; `err` says why when it did not end cleanly. */
  close: [err?: KarpError]
}

/** One end of a KARP connection: both ends serve routes and send requests, many in flight at once. */
export interface KarpConnection extends EventEmitter<KarpConnectionEvents>, AsyncDisposable, PeerInfo {
  /** The peer; `{ address: '', port: 0 }` over a unix socket or a given stream, the client a PROXY header names behind a balancer. */
  readonly remote: PeerInfo
  /**
   * Registers a handler for this connection; it wins over a server's handler of the same route.
   * @throws {KarpInvalidRouteError} for a route that is not `[a-z_]+` once lowercased
   * @throws {UsageError} for a handler that is not a function
   */
  handle(route: string, handler: KarpHandler): this
  /**
   * Sends a request and waits for its reply. Rejects with `RemoteError` on a success-0 answer,
   * `KarpTimeoutError` past the timeout, `signal.reason` on abort, `KarpClosedError` when the
   * connection goes, `KarpTooManyInFlightError` at `maxInFlight` pending requests.
   */
  request(route: string, data?: KarpPayload, opts?: CallOptions): Promise<KarpReply>
  /** Sends a notification (no reply) and resolves once it is queued for writing, within the timeout. */
  notify(route: string, data?: KarpPayload, opts?: CallOptions): Promise<void>
  /** Refuses new calls, waits for pending requests and running handlers, then ends the connection; `signal` cuts it. */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void>
  /** Resolves, never rejects, once the connection is gone. */
  readonly closed: Promise<void>
}

/** The limits on the peer of one connection, either end. */
export interface KarpLimits {
  /** Largest frame sent or accepted, LF included; a larger one received closes the connection. @default 16_777_216 */
  maxFrameBytes?: number | undefined
  /** Handlers running, and requests awaiting replies, per connection. @default 1024 */
  maxInFlight?: number | undefined
  /** Output queued per connection before writes are refused and a peer that does not read is closed. @default 67_108_864 */
  maxWriteBufferBytes?: number | undefined
  /**
   * Milliseconds without a received byte, while no handler runs and no request awaits its
   * reply, after which the connection is closed with `ERR_KARP_IDLE_TIMEOUT`; 0 is off, as in
   * the original.
   * @default 0
   */
  idleTimeout?: number | undefined
}

/** The limits of a server: those of each connection, and admission. */
export interface KarpServerLimits extends KarpLimits {
  /** Connections open at once, TLS handshakes included; one more is closed at once and reported. @default 1024 */
  maxConnections?: number | undefined
  /** Milliseconds a TLS handshake may take, from 1 to 2^31 − 1. @default 10_000 */
  handshakeTimeout?: number | undefined
}

/** What both ends of a connection take. */
export interface KarpOptions {
  /** Handlers by route, served to the other end; names are lowercased and must then be `[a-z_]+`. @default {} */
  handlers?: KarpHandlers | undefined
  /** Milliseconds each `request()` and `notify()` may wait, unless the call says otherwise; `Infinity` for none. @default 30_000 */
  timeout?: number | undefined
  /** Initial delay of TCP keep-alive probes in milliseconds; `false` turns them off. @default 60_000 */
  keepAlive?: number | false | undefined
  /** Send handlers' stack traces to the peer in failure replies: for development only. @default false */
  exposeErrors?: boolean | undefined
}

/** Options of `createServer()`. */
export interface KarpServerOptions extends KarpOptions {
  /** Limits on each peer, and on admission. @default {} */
  limits?: KarpServerLimits | undefined
}

/** Options of `connect()`: where to connect (framing's `ConnectOptions`) and what the connection takes. */
export interface KarpConnectOptions extends KarpOptions, ConnectOptions {
  /** Limits on the peer. @default {} */
  limits?: KarpLimits | undefined
}

/** A fault `clientError` reports: a peer's, or one of admission. */
export type KarpClientError = KarpError | KarpTooManyConnectionsError | KarpTlsHandshakeError | KarpProxyHeaderError

/** The events of a `KarpServer`. */
export interface KarpServerEvents {
  /** A connection was admitted (after TLS and the PROXY header). */
  connection: [connection: KarpConnection]
  /**
   * A peer was refused or misbehaved: `peer` is its connection once one exists, else the
   * `PeerInfo` of a peer refused before (too many connections, a failed TLS handshake, a bad
   * PROXY header). karp keeps a connection after a malformed line.
   */
  clientError: [err: KarpClientError, peer: KarpConnection | PeerInfo]
  /** A handler threw or returned something that cannot be sent. */
  handlerError: [err: unknown, ctx: KarpContext]
  /** The listening socket failed to accept (EMFILE...); the server keeps listening. */
  acceptError: [err: KarpListenError]
  /** The server is closed and every connection is gone. */
  close: []
}

/** Accepts connections and serves its handlers on each; every connection is a full `KarpConnection`. */
export interface KarpServer extends EventEmitter<KarpServerEvents>, AsyncDisposable {
  /**
   * Registers a handler for every connection, current and future.
   * @throws {KarpInvalidRouteError} for a route that is not `[a-z_]+` once lowercased
   * @throws {UsageError} for a handler that is not a function
   */
  handle(route: string, handler: KarpHandler): this
  /**
   * Binds (`host` 127.0.0.1 and `port` 7755 unless given, or a unix socket `path`) and resolves
   * with the address, as `address()` then returns it.
   * @throws {KarpListenError} naming the address, with the cause
   * @throws {UsageError} for an unknown option or a bad value
   */
  listen(options?: ListenOptions & { readonly path?: undefined }): Promise<TcpAddress>
  /**
   * Listens on the unix socket `path` and resolves with `{ path }`.
   * @throws {KarpListenError} naming the path, with the cause
   */
  listen(options: ListenOptions & { readonly path: string }): Promise<PathAddress>
  /**
   * Listens on TCP or on a unix socket, as `options.path` decides at run time, and resolves with
   * what `address()` then returns.
   * @throws {KarpListenError} naming the address, with the cause
   */
  listen(options?: ListenOptions): Promise<ListenAddress>
  /** Where it listens; `null` before `listen()` resolves and after `close()`. */
  address(): ListenAddress | null
  /** Whether it listens. */
  readonly listening: boolean
  /** The open connections. */
  readonly connections: ReadonlySet<KarpConnection>
  /** Stops accepting, then closes every connection as `KarpConnection.close()` does; `signal` cuts them. */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void>
}
