// `createServer()`: the KRPC server, listening through framing's Listener or mounted in a node:http server.
import { EventEmitter } from 'node:events'
import { createServer as createHttpServer, STATUS_CODES } from 'node:http'
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { checkOptions, describeTarget, Listener, peerInfo, UsageError } from '@proto/framing'
import type { ListenAddress, ListenOptions, OptionNames, PathAddress, PeerInfo, TcpAddress } from '@proto/framing'
import { Connection } from './connection.ts'
import { channels } from './diagnostics.ts'
import { DEFAULT_HOST, DEFAULT_PORT, RpcCode } from './constants.ts'
import { KRPC_ERRORS, KrpcBadRequestError, KrpcClosedError, KrpcTruncatedError } from './errors.ts'
import type { KrpcClientError, KrpcListenError } from './errors.ts'
import { Exchange } from './exchange.ts'
import { httpServerOptions, LIMIT_NAMES, resolveLimits } from './limits.ts'
import { MethodTable } from './methods.ts'
import type {
  ExchangeHost,
  KrpcConnection,
  KrpcContext,
  KrpcLimits,
  KrpcMethod,
  KrpcMethods,
  PreMethodHook,
  ResolvedLimits,
} from './types.ts'

/** Options of `createServer()`. */
export interface KrpcServerOptions {
  /** Methods to register, as with `handle()` for each (dotted) name. @default {} */
  handlers?: KrpcMethods
  /** Awaited before the method is looked up, with the call's `pmhparams`; a throw answers -32000. @default undefined */
  preMethodHook?: PreMethodHook
  /** Sizes, counts and times the server allows a peer. @default the default of each limit */
  limits?: KrpcLimits
  /** Send `err.stack` as the `info` of -32000 and -32001 (development only). @default false */
  exposeErrors?: boolean
  /** Where file parts that must wait are spooled. @default os.tmpdir() */
  tmpDir?: string
}

const SERVER_OPTION_NAMES = {
  handlers: true,
  preMethodHook: true,
  limits: LIMIT_NAMES,
  exposeErrors: true,
  tmpDir: true,
} as const satisfies OptionNames<KrpcServerOptions>

/** The events of a KRPC server. Nothing is emitted as `'error'`. */
export interface KrpcServerEvents {
  /** A connection was admitted, after its TLS handshake and PROXY header. */
  connection: [connection: KrpcConnection]
  /**
   * A peer was refused or sent a request the server could not take. `peer` is the connection
   * once one exists, else the `PeerInfo` of a connection refused before admission.
   */
  clientError: [err: KrpcClientError, peer: KrpcConnection | PeerInfo]
  /** A method or the hook threw, or a result could not be sent. */
  handlerError: [err: unknown, ctx: KrpcContext]
  /** The listening socket failed to accept a connection (EMFILE...); the server keeps listening. */
  acceptError: [err: KrpcListenError]
  /** The server is closed and every connection is gone. */
  close: []
}

/** A KRPC server. */
export interface KrpcServer extends EventEmitter<KrpcServerEvents>, AsyncDisposable {
  /**
   * Adds a method under `method`, called with `this` undefined.
   * @throws {UsageError} for an empty or taken name
   */
  handle(method: string, fn: KrpcMethod): this
  /** Serves KRPC inside an existing `node:http` server, whose own limits then apply. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void
  /**
   * Listens on TCP: `{ host, port }` (defaults `127.0.0.1` and 8080), with `tls` (an HTTPS
   * server), `proxyProtocol`, `ipv6Only`, `backlog`, `signal`.
   * @returns the address it listens on, its port the one the system chose for port 0
   * @throws {KrpcListenError} naming the address, with the cause
   */
  listen(options?: ListenOptions & { readonly path?: undefined }): Promise<TcpAddress>
  /**
   * Listens on the unix socket at `path`, with `tls`, `proxyProtocol`, `backlog`, `signal`.
   * @returns `{ path }`
   * @throws {KrpcListenError} naming the path, with the cause
   */
  listen(options: ListenOptions & { readonly path: string }): Promise<PathAddress>
  /**
   * Listens on TCP or, with `path`, on a unix socket: either of the forms above.
   * @returns what `address()` returns from then on
   * @throws {KrpcListenError} naming the address, with the cause
   */
  listen(options?: ListenOptions): Promise<ListenAddress>
  /** Where it listens; `null` before `listen()` resolves and after `close()`. */
  address(): ListenAddress | null
  /** Whether it listens. */
  readonly listening: boolean
  /** The connections open now. */
  readonly connections: ReadonlySet<KrpcConnection>
  /** Stops accepting, lets calls in flight finish, closes idle connections; `signal` destroys what is still open. */
  close(options?: { signal?: AbortSignal }): Promise<void>
}

// Node's own answers to a bad request head, kept when the server reports it as clientError.
function statusForParseError(code: unknown): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408
    default:
      return 400
  }
}

class Server extends EventEmitter<KrpcServerEvents> implements KrpcServer, ExchangeHost {
  readonly methods = new MethodTable()
  readonly preMethodHook: PreMethodHook | undefined
  readonly limits: ResolvedLimits
  readonly exposeErrors: boolean
  readonly tmpDir: string
  #closing = false
  #listener: Listener | undefined
  #http: HttpServer | undefined
  #closed: Promise<void> | undefined
  readonly #exchanges = new Set<Exchange>()
  #idle: (() => void) | undefined
  readonly #connections = new Set<Connection>()
  /** The connection of each socket a request came on. */
  readonly #bySocket = new WeakMap<Socket, Connection>()
  /** Connections the listener handed over and not yet closed (a mounted handler's belong to its server). */
  #listened = 0
  #gone: (() => void) | undefined

  constructor(options: KrpcServerOptions) {
    super()
    checkOptions(options, SERVER_OPTION_NAMES, 'createServer()')
    this.limits = resolveLimits(options.limits)
    const hook: unknown = options.preMethodHook
    if (hook !== undefined && typeof hook !== 'function') throw new UsageError('preMethodHook must be a function')
    this.preMethodHook = options.preMethodHook
    this.exposeErrors = options.exposeErrors ?? false
    this.tmpDir = options.tmpDir ?? tmpdir()
    if (options.handlers !== undefined) this.methods.addAll(options.handlers)
  }

  get closing(): boolean {
    return this.#closing
  }

  get connections(): ReadonlySet<KrpcConnection> {
    return this.#connections
  }

  get listening(): boolean {
    return this.#listener?.listening ?? false
  }

  address(): ListenAddress | null {
    return this.#listener?.address() ?? null
  }

  handle(method: string, fn: KrpcMethod): this {
    this.methods.addOne(method, fn)
    return this
  }

  clientError(err: KrpcClientError, peer: KrpcConnection | PeerInfo): void {
    this.emit('clientError', err, peer)
  }

  handlerError(err: unknown, ctx: KrpcContext): void {
    this.emit('handlerError', err, ctx)
  }

  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket
    const connection = this.#bySocket.get(socket) ?? this.#admit(socket, peerInfo(socket))
    connection.response = res
    connection.requests++
    const exchange = new Exchange(this, connection, req, res, this.#exchangeDone)
    connection.open.push(exchange)
    this.#exchanges.add(exchange)
    // Mounted in a server of its user's, the handler may be called once the socket has closed
    // and its 'close' has passed.
    if (socket.destroyed) process.nextTick(() => exchange.socketClosed())
  }

  /** A connection from now on: tracked until its socket closes. */
  #admit(socket: Socket, remote: PeerInfo, listened = false): Connection {
    const connection = new Connection(socket, remote, listened)
    this.#bySocket.set(socket, connection)
    this.#connections.add(connection)
    if (listened) this.#listened++
    socket.once('close', () => {
      connection.socketClosed()
      this.#connections.delete(connection)
      if (channels.connectionClose.hasSubscribers) channels.connectionClose.publish({ side: 'server', remote, connection })
      if (listened && --this.#listened === 0) this.#gone?.()
    })
    if (channels.connectionOpen.hasSubscribers) channels.connectionOpen.publish({ side: 'server', remote, connection })
    this.emit('connection', connection)
    return connection
  }

  #exchangeDone = (exchange: Exchange): void => {
    this.#exchanges.delete(exchange)
    this.#bySocket.get(exchange.socket)?.done(exchange)
    if (this.#closing) {
      // A keep-alive connection that goes idle while the server closes is closed at once.
      this.#http?.closeIdleConnections()
      if (this.#exchanges.size === 0) this.#idle?.()
    }
  }

  listen(options?: ListenOptions & { readonly path?: undefined }): Promise<TcpAddress>
  listen(options: ListenOptions & { readonly path: string }): Promise<PathAddress>
  listen(options?: ListenOptions): Promise<ListenAddress>
  async listen(options: ListenOptions = {}): Promise<ListenAddress> {
    if (this.#closing) {
      const where = options.path ?? describeTarget({ host: options.host ?? DEFAULT_HOST, port: options.port ?? DEFAULT_PORT })
      throw new KRPC_ERRORS.Listen(where, { cause: new UsageError('the server is closed') })
    }
    if (this.#listener === undefined) {
      const http = createHttpServer(httpServerOptions(this.limits), this.handler)
      http.on('clientError', (err: Error & { code?: unknown }, socket: Socket) => this.#onHttpClientError(err, socket))
      // node:http checks headersTimeout and requestTimeout, and finds idle connections, only
      // once it has seen 'listening'; its sockets come from the listener, so it never listens.
      http.emit('listening')
      this.#http = http
      this.#listener = new Listener({
        defaults: { host: DEFAULT_HOST, port: DEFAULT_PORT },
        maxConnections: this.limits.maxConnections,
        errors: KRPC_ERRORS,
        onConnection: (socket, remote) => {
          // What node:http's own listening socket would do for each connection.
          socket.setNoDelay(true)
          socket.setKeepAlive(true)
          this.#admit(socket, remote, true)
          http.emit('connection', socket)
        },
        onClientError: (err, remote) => this.clientError(err as KrpcClientError, remote),
        onAcceptError: (err) => this.emit('acceptError', err as KrpcListenError),
        diagnostics: { channels, server: this },
      })
    }
    return this.#listener.listen(options)
  }

  #onHttpClientError(err: Error & { code?: unknown }, socket: Socket): void {
    const connection = this.#bySocket.get(socket)
    const peer = connection ?? peerInfo(socket)
    if (err.code === 'HPE_INVALID_EOF_STATE') {
      // The peer left mid-request; a request already being served reports it itself.
      if ((connection?.open.length ?? 0) === 0) this.clientError(new KrpcTruncatedError({ cause: err }), peer)
    } else if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
      const status = statusForParseError(err.code)
      this.clientError(new KrpcBadRequestError(err.message, status, RpcCode.INVALID_REQUEST, { cause: err }), peer)
      // Node's own rule: answer unless a response on this socket has begun and not finished.
      const res = connection?.response
      if (socket.writable && (res === undefined || !res.headersSent || res.writableFinished)) {
        socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      }
    }
    socket.destroy()
  }

  close(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#closed ??= this.#close()
    const signal = options.signal
    if (signal !== undefined) {
      const destroy = (): void => {
        for (const exchange of this.#exchanges) exchange.destroy(new KrpcClosedError('the server closed', { cause: signal.reason }))
        for (const connection of this.#connections) connection.socket.destroy()
      }
      if (signal.aborted) destroy()
      else {
        signal.addEventListener('abort', destroy, { once: true })
        void this.#closed.then(() => signal.removeEventListener('abort', destroy))
      }
    }
    return this.#closed
  }

  async #close(): Promise<void> {
    this.#closing = true
    const listening = this.#listener?.close()
    const http = this.#http
    http?.closeIdleConnections()
    // node:http counts a connection that has sent nothing yet as busy until headersTimeout.
    for (const connection of this.#connections) if (connection.listened && connection.unused) connection.socket.destroy()
    if (this.#exchanges.size > 0) await new Promise<void>((resolve) => {
      this.#idle = resolve
    })
    http?.closeIdleConnections()
    await listening
    // Connections of the listener that are still open are in the middle of a request head.
    if (this.#listened > 0) await new Promise<void>((resolve) => {
      this.#gone = resolve
    })
    // Stops node:http's timer of headersTimeout and requestTimeout.
    http?.close()
    this.emit('close')
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/** A KRPC server; call `listen()` to serve, or mount `handler` in an existing `node:http` server. */
export function createServer(options: KrpcServerOptions = {}): KrpcServer {
  return new Server(options)
}
