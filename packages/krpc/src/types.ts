// The types the package's files share: methods, the call context, file arguments, limits, and the client's options, inputs and results.
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import type { CallOptions, PeerInfo, ProtoError } from '@proto/framing'

/**
 * One connection to the server: one TCP (or TLS, or unix) socket, which may carry any number of
 * requests one after another. It satisfies `PeerInfo` itself.
 */
export interface KrpcConnection extends PeerInfo {
  /** The peer: the client a PROXY header named, else the socket's other end. */
  readonly remote: PeerInfo
  /** Resolves, never rejects, once the connection is closed. */
  readonly closed: Promise<void>
}

/** A method: called with the call's arguments, `this` bound to the object that holds it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- methods declare their own parameter types
export type KrpcMethod = (...args: any[]) => unknown

/** Methods by name: nested objects make dotted names, and keys may contain dots themselves. */
export interface KrpcMethods {
  [name: string]: KrpcMethod | KrpcMethods
}

/** A method as the server stores it: the function and the object it is called on. */
export interface MethodEntry {
  readonly fn: (...args: never[]) => unknown
  readonly holder: unknown
}

/** What the pre-method hook and the method know about the call they serve. */
export interface KrpcContext {
  /** The method name as the call gave it (`''` when it gave no string). */
  readonly method: string
  /** The call's `pmhparams`, `undefined` when it has none. */
  readonly pmhparams: unknown
  /** Aborts when the peer goes away or the request breaks a limit; `reason` says which. */
  readonly signal: AbortSignal
  /** The peer: the client a PROXY header named, else the socket's other end. */
  readonly remote: PeerInfo
  /** The connection the call came on. */
  readonly connection: KrpcConnection
  /** The HTTP request, its body excepted: the server reads that. */
  readonly request: IncomingMessage
}

/** The pre-method hook: awaited before the method is looked up. */
export type PreMethodHook = (pmhparams: unknown, ctx: KrpcContext) => unknown

/** A file argument: the bytes of one file part, readable once, for the length of the call. */
export interface KrpcFile extends Readable {
  /** The part's field name, `__file__:` included. */
  readonly field: string
  /** The part's file name without directories; `''` when it has none. */
  readonly filename: string
  /** The part's media type; `text/plain` when it gives none. */
  readonly mimeType: string
}

/** The server's limits; every one is finite. */
export interface KrpcLimits {
  /** Bytes of one text field, the call included (-32004). @default 1_048_576 */
  fieldSize?: number
  /** Bytes of a field or part name (-32004). @default 100 */
  fieldNameSize?: number
  /** Bytes of one file part (-32005). @default 104_857_600 */
  fileSize?: number
  /** File parts in a body (-32006). @default 16 */
  files?: number
  /** Text fields in a body (-32006). @default 16 */
  fields?: number
  /** Parts of any kind in a body (-32006). @default 32 */
  parts?: number
  /** Milliseconds without a body byte while the server waits for one (-32007, 408). @default 30_000 */
  bodyTimeout?: number
  /** Milliseconds for a request's headers: Node answers 408. @default 60_000 */
  headersTimeout?: number
  /** Milliseconds for a whole request: Node answers 408. @default 600_000 */
  requestTimeout?: number
  /** Bytes of a request head, request line included: Node answers 431. @default 16_384 */
  maxHeaderSize?: number
  /** Open connections; one more is closed at once. @default 1024 */
  maxConnections?: number
  /**
   * Milliseconds a kept-alive connection may wait for its next request (Node's
   * `keepAliveTimeout`), at most 2_147_482_647; 0 keeps it open. @default 5_000
   */
  idleTimeout?: number
}

/** Every server limit, checked and with its default applied. */
export type ResolvedLimits = { readonly [K in keyof KrpcLimits]-?: number }

/** What an exchange needs from its server. */
export interface ExchangeHost {
  readonly methods: ReadonlyMap<string, MethodEntry>
  readonly preMethodHook: PreMethodHook | undefined
  readonly limits: ResolvedLimits
  readonly exposeErrors: boolean
  readonly tmpDir: string
  readonly closing: boolean
  clientError(err: ProtoError, peer: KrpcConnection | PeerInfo): void
  handlerError(err: unknown, ctx: KrpcContext): void
}

/** A binary reply: raw bytes, read once as a stream or all at once. */
export interface BinaryResult {
  /** `Content-Length` when the server sent one. */
  readonly size: number | undefined
  /**
   * The bytes as they arrive; a reply cut short errors the stream with `KrpcClosedError`. A
   * result is read once, by `stream()` or `bytes()`. The call's `timeout` no longer applies; its
   * `signal` still ends the stream.
   * @throws {UsageError} when the result has already been read
   */
  stream(): ReadableStream<Uint8Array>
  /**
   * Every byte, once the reply has ended.
   * @throws {KrpcResultTooLargeError} past `maxResultBytes`
   */
  bytes(): Promise<Uint8Array>
  /** Lets the bytes go unread: the rest of the reply is dropped (in Node, with its connection). Resolves once it is. */
  cancel(): Promise<void>
}

/** `client.methods`: every string key but `then` is a name segment, so the proxy is not thenable. */
export type KrpcProxy = { readonly [name: string]: KrpcProxy } & ((...args: unknown[]) => Promise<unknown>)

declare const fileSource: unique symbol

/** A file input with its name, type or size fixed; made by `asFile`. */
export interface KrpcFileSource {
  readonly [fileSource]: true
}

/** What a file argument can be made from. */
export type KrpcFileInput = Blob | Uint8Array | KrpcFileSource | Readable | ReadableStream<Uint8Array>

/** Per-file details for `asFile`. */
export interface KrpcFileOptions {
  /** @default the File's name, the path's basename, else `blob` */
  filename?: string
  /** @default the Blob's type, else `application/octet-stream` */
  mimeType?: string
  /** Bytes the source will give, so the body can have a `Content-Length`. @default measured where possible */
  size?: number
}

/** Options of a call; those of `connect()` are the defaults. */
export interface KrpcCallOptions extends CallOptions {
  /** Extra file parts, sent as `__file__:<name>` for references you wrote yourself. @default {} */
  files?: Record<string, KrpcFileInput>
  /** `'get'` sends the call in the query string, as the original also accepts; no files. @default 'post' */
  via?: 'post' | 'get'
  /** Given to the server's pre-method hook. @default null */
  pmhparams?: unknown
}

/** The limits a client sets on what the server sends back. */
export interface KrpcClientLimits {
  /** Bytes of a JSON reply, or of a binary one read with `bytes()`. @default 16_777_216 */
  maxResultBytes?: number
}

/**
 * Options of `connect()`: where the server is, how to reach it, and the defaults of every call.
 * `signal` is for `connect()` itself.
 */
export interface KrpcConnectOptions extends Omit<KrpcCallOptions, 'files'> {
  /** The server's URL, `http:` or `https:`; a path of its own is kept. @default `http://<host>:<port>/` */
  url?: string
  /** Used when there is no `url`; an IPv6 address without brackets. @default '127.0.0.1' */
  host?: string
  /** Used when there is no `url`. @default 8080 */
  port?: number
  /**
   * A unix socket to connect to; `url` (or `host` and `port`) then only names the server in the
   * request. Not in browsers.
   * @default undefined
   */
  path?: string
  /**
   * node:tls connect options (`ca`, `cert`, `key`, `servername`...) for an `https:` URL. Not in
   * browsers, whose own TLS applies.
   * @default undefined
   */
  tls?: TlsConnectionOptions
  /**
   * Milliseconds until a new connection, TLS handshake included, must be up, from 0 to 2^53 − 1,
   * or `Infinity`; then the call fails with `TimeoutError`. In browsers `fetch` gives no connect
   * step apart, and `timeout` covers it.
   * @default 30_000
   */
  connectTimeout?: number
  /** Sent with every request. @default {} */
  headers?: Record<string, string>
  /** What the client accepts from the server. @default the default of each limit */
  limits?: KrpcClientLimits
}

/** A client of one KRPC server. */
export interface KrpcClient extends AsyncDisposable {
  /** The server, as the URL (or `path`) names it. */
  readonly remote: PeerInfo
  /**
   * Calls `method`. Resolves with the result, or a `BinaryResult` for binary replies.
   * @throws {RemoteError} for the server's error; see the README for the rest
   */
  call(method: string, params?: unknown, opts?: KrpcCallOptions): Promise<unknown>
  /** `client.methods.sub.hello('bob')` is `call('sub.hello', ['bob'])`. */
  readonly methods: KrpcProxy
  /** A proxy whose calls all use `opts`. */
  proxy<T = KrpcProxy>(opts?: Omit<KrpcCallOptions, 'files'>): T
  /**
   * Refuses new calls, waits for pending ones and for binary results still being read (one
   * never read is cancelled), then closes the sockets. Once `signal` aborts, what is still in
   * flight ends at once with `KrpcClosedError` (`cause`: the signal's reason).
   */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void>
  /** Resolves, never rejects, once the client is closed. */
  readonly closed: Promise<void>
}
