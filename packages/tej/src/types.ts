// The public types the package's files share: frames and files both ways, limits, options, handlers, connections and servers.
import type { EventEmitter } from 'node:events'
import type { Readable } from 'node:stream'
import type {
  CallOptions,
  ConnectOptions,
  ListenAddress,
  ListenOptions,
  PathAddress,
  PeerInfo,
  ProtoError,
  TcpAddress,
} from '@proto/framing'

/** A whole frame in memory. */
export interface TejFrame {
  /** 0..127. */
  status: number
  files: TejFile[]
  /** Empty when the frame has none (the original gives `None`). */
  message: Uint8Array
}

/** A file of a whole frame in memory. */
export interface TejFile {
  /** Data, never a path: it may hold `/`, `..` or NUL. */
  name: string
  data: Uint8Array
}

/** What `TejDecoder` reports, in wire order; `data` chunks are views of the input. */
export type TejDecodeEvent =
  | { type: 'frame'; status: number; fileCount: number }
  | { type: 'file'; name: string; size: number }
  | { type: 'data'; chunk: Uint8Array }
  | { type: 'message'; data: Uint8Array }

/** A file to send: bytes (a string is UTF-8), a path read as a stream, or a stream of a declared size. */
export type TejFileSource =
  | { name: string; data: Uint8Array | string }
  | { name: string; path: string }
  | { name: string; stream: Readable | AsyncIterable<Uint8Array>; size: number }

/** A frame to send. */
export interface TejOutgoingFrame {
  /** 0..127; 2 is a ping. @default 0 */
  status?: number | undefined
  /** @default [] */
  files?: readonly TejFileSource[] | undefined
  /** A string is UTF-8. @default empty */
  message?: Uint8Array | string | undefined
}

/** A received file, streamed: iterate it, or use `readable()`, `bytes()` or `skip()`. */
export interface TejIncomingFile extends AsyncIterable<Uint8Array> {
  /** Data, never a path: it may hold `/`, `..` or NUL. */
  readonly name: string
  readonly size: number
  /** Position in the frame, from 0. */
  readonly index: number
  /** A Node stream of the same bytes. */
  readable(): Readable
  /** The whole file. @throws {TejBufferLimitError} over `maxBufferedBytes`; the frame is discarded */
  bytes(): Promise<Uint8Array>
  /** Discards the rest of the file without holding it. */
  skip(): Promise<void>
}

/** A received frame whose files stream in wire order. */
export interface TejIncomingFrame {
  readonly status: number
  readonly fileCount: number
  /** The files in wire order; moving on skips what is left of the previous one, leaving the loop skips the rest. */
  files(): AsyncIterable<TejIncomingFile>
  /** The message, after skipping the files not read. */
  message(): Promise<Uint8Array>
  /** Files and message in memory. @throws {TejBufferLimitError} over `maxBufferedBytes`; the frame is discarded */
  buffer(): Promise<TejFrame>
}

/** What a connection's peer is held to, at both ends: sizes and counts of what it sends, how long it may send nothing, and how long it may take nothing. */
export interface TejLimits {
  /** Files a received frame may declare. @default 1024 */
  maxFiles?: number | undefined
  /** UTF-8 bytes of a received file name. @default 4096 */
  maxNameBytes?: number | undefined
  /** Bytes of a received file; files stream, so this guards the application, not memory. @default 9_007_199_254_740_991 */
  maxFileBytes?: number | undefined
  /** Bytes of a received message, which is held whole. @default 16_777_216 */
  maxMessageBytes?: number | undefined
  /** Bytes `buffer()`, `bytes()` and a received ping may hold. @default 67_108_864 */
  maxBufferedBytes?: number | undefined
  /** Milliseconds without a received byte before the connection closes; 0 is off, as in the original. @default 0 */
  idleTimeout?: number | undefined
  /**
   * Milliseconds one write of a frame being sent (a slice of at most 1 MiB, or one chunk of a
   * stream source) may wait for the peer to take its bytes. When it passes, the send rejects with
   * `TejStallTimeoutError` and the connection ends, the frame cut short. It bounds each wait, not
   * the whole send: a peer that keeps reading, however slowly, is never cut. The flush of `close()`
   * waits under it too. 0 or `Infinity` is off.
   * @default 30_000
   */
  stallTimeout?: number | undefined
}

/** A server's limits: those of every connection, plus admission and the TLS handshake. */
export interface TejServerLimits extends TejLimits {
  /** Connections open at once; one more is closed before anything is built for it. @default 1024 */
  maxConnections?: number | undefined
  /** Milliseconds a TLS client has to finish its handshake, at most 2^31 − 1. @default 10_000 */
  handshakeTimeout?: number | undefined
}

/** What a handler receives beside the frame. */
export interface TejContext {
  /** Who sent the frame: the PROXY header's client when the listener reads one. */
  readonly remote: PeerInfo
  /** Aborts when the connection ends. */
  readonly signal: AbortSignal
  /** The connection the frame came on, to answer on. */
  readonly connection: TejConnection
}

/**
 * Receives each frame of a connection, one at a time. What it leaves unread is discarded when it
 * settles; if it throws, `handlerError` is emitted and the connection stays.
 */
export type TejHandler = (frame: TejIncomingFrame, ctx: TejContext) => void | Promise<void>

/** Options of `createServer`. */
export interface TejServerOptions {
  /** Receives every frame of every connection; or `server.handle(fn)`. Without one, iterate each connection. @default undefined */
  handler?: TejHandler | undefined
  /** Sizes, counts and time limits on peers. @default {} */
  limits?: TejServerLimits | undefined
  /** Milliseconds between keep-alive pings on each connection; 0 is off. @default 0 */
  pingInterval?: number | undefined
  /** The deadline, in ms, of each `send()` on the server's connections that gives no `timeout` of its own; `Infinity` is none. @default Infinity */
  timeout?: number | undefined
}

/** Options of `connect`: where (framing's `ConnectOptions`), and the connection's own. */
export interface TejConnectOptions extends ConnectOptions {
  /** Receives every frame; without one, iterate the connection. @default undefined */
  handler?: TejHandler | undefined
  /** Sizes, counts, and the idle and stall limits on the server. @default {} */
  limits?: TejLimits | undefined
  /** Milliseconds between keep-alive pings; 0 is off. @default 0 */
  pingInterval?: number | undefined
  /** The deadline of each `send()` without its own `timeout`, in ms; `Infinity` is none. @default Infinity */
  timeout?: number | undefined
}

/** Events of a `TejConnection`. */
export interface TejConnectionEvents {
  /** A frame with status 2, buffered whole. No pong is sent. */
  ping: [ping: TejFrame]
  /** The handler threw (or a `ping` listener did); the rest of that frame was discarded. */
  handlerError: [err: unknown, ctx: TejContext]
  /** The connection ended, with what ended it if that was an error. */
  close: [err?: ProtoError]
}

/**
 * One TEJ connection, either end: frames go both ways at any time. Received frames go to the
 * handler, or to `for await (const frame of conn)`; sends are queued and written whole, one
 * after another.
 */
export interface TejConnection extends EventEmitter<TejConnectionEvents>, AsyncIterable<TejIncomingFrame>, AsyncDisposable, PeerInfo {
  /** The peer: the PROXY header's client behind a balancer; `{ address: '', port: 0 }` over a unix socket or a given stream. */
  readonly remote: PeerInfo
  /** Aborts when the connection ends. */
  readonly signal: AbortSignal
  /** Resolves, never rejects, when the connection has ended. */
  readonly closed: Promise<void>
  /**
   * Queues a frame; resolves once it is fully written. An abort or deadline before its first
   * byte only takes it off the queue; after that the connection is destroyed, since a
   * half-written frame cannot be completed.
   * @throws {TejInvalidStatusError} for a status outside 0..127
   * @throws {UsageError} for a bad name, size, path or timeout, before anything is queued
   * @throws {TejFileSizeMismatchError} when a source yields fewer or more bytes than its size
   * @throws {TejTimeoutError} when the deadline passes first
   * @throws {TejClosedError} when the connection has ended or is closing
   */
  send(frame: TejOutgoingFrame, opts?: CallOptions): Promise<void>
  /** Sends the 18-byte empty ping (status 2). */
  ping(opts?: CallOptions): Promise<void>
  /**
   * Stops delivering new frames, lets queued sends finish, then sends FIN. Resolves once FIN is
   * flushed; `closed` settles when the peer has finished too. Aborting `signal` before then
   * destroys the connection.
   */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void>
  /**
   * The received frames, one at a time: moving on discards what was not read of the previous
   * one; leaving the loop discards later frames. Only without a handler, and once.
   * @throws {UsageError} with a handler, or when iterated a second time
   */
  [Symbol.asyncIterator](): AsyncIterator<TejIncomingFrame, void, undefined>
}

/** Events of a `TejServer`. */
export interface TejServerEvents {
  /** A connection was admitted (after its TLS handshake and PROXY header). */
  connection: [conn: TejConnection]
  /**
   * A peer was refused or misbehaved, and is closed: `peer` is its connection, or a `PeerInfo`
   * when it was refused before one was built (too many connections, a failed TLS handshake, a
   * bad PROXY header).
   */
  clientError: [err: ProtoError, peer: TejConnection | PeerInfo]
  /** The handler threw; the rest of that frame was discarded and the connection stays. */
  handlerError: [err: unknown, ctx: TejContext]
  /** The listening socket failed to accept (EMFILE...); the server keeps listening. */
  acceptError: [err: ProtoError]
  /** The server is closed and every connection is gone. */
  close: []
}

/** A TEJ server: every admitted connection becomes a `TejConnection`. */
export interface TejServer extends EventEmitter<TejServerEvents>, AsyncDisposable {
  /** Where it listens; `null` before `listen()` resolves and after `close()`. */
  address(): ListenAddress | null
  /** Whether it listens. */
  readonly listening: boolean
  /** The open connections. */
  readonly connections: ReadonlySet<TejConnection>
  /** Sets the handler of every connection, current and future (replacing the one before). */
  handle(handler: TejHandler): this
  /**
   * Binds and starts accepting; resolves with what `address()` then returns.
   * @throws {TejListenError} naming the address, with the cause
   * @throws {UsageError} for an unknown option or a bad value
   */
  listen(options?: ListenOptions & { readonly path?: undefined }): Promise<TcpAddress>
  /**
   * Listens on the unix socket `path` and resolves with `{ path }`.
   * @throws {TejListenError} naming the path, with the cause
   */
  listen(options: ListenOptions & { readonly path: string }): Promise<PathAddress>
  /**
   * Listens on TCP or on a unix socket, as `options.path` decides at run time, and resolves with
   * what `address()` then returns.
   * @throws {TejListenError} naming the address, with the cause
   */
  listen(options?: ListenOptions): Promise<ListenAddress>
  /**
   * Stops accepting, lets running handlers and queued sends finish, then closes every connection
   * and resolves when all have ended. Aborting `signal` destroys what is still open.
   */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void>
}

/** What the request channels carry about a frame: the same object from start to end or error. */
export interface TejFrameInfo {
  /** Whether this end received the frame or sent it. */
  readonly direction: 'received' | 'sent'
  readonly status: number
  readonly fileCount: number
}
