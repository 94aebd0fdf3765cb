import { EventEmitter } from 'node:events'
import { createServer as createHttpServer, STATUS_CODES } from 'node:http'
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { UsageError } from '@proto/framing'
import { DEFAULT_HOST, DEFAULT_PORT, RpcCode } from './constants.ts'
import { KrpcBadRequestError, KrpcClosedError, KrpcTooManyConnectionsError, KrpcTruncatedError } from './errors.ts'
import type { KrpcError } from './errors.ts'
import { Exchange } from './exchange.ts'
import { httpServerOptions, resolveLimits } from './limits.ts'
import type { ExchangeHost, KrpcContext, KrpcLimits, KrpcMethod, KrpcMethods, MethodEntry, PeerInfo, PreMethodHook, ResolvedLimits } from './types.ts'

export interface KrpcServerOptions {
  /** Methods to register, as with `register()` for each (dotted) name. @default {} */
  methods?: KrpcMethods
  /** Awaited before the method is looked up, with the call's `pmhparams`; a throw answers -32000. @default undefined */
  preMethodHook?: PreMethodHook
  /** @default the defaults of each limit */
  limits?: KrpcLimits
  /** Send `err.stack` as the `info` of -32000 and -32001. @default false */
  exposeErrors?: boolean
  /** Where file parts that must wait are spooled. @default os.tmpdir() */
  tmpDir?: string
}

export interface KrpcServerEvents {
  clientError: [err: KrpcError, peer: PeerInfo]
  handlerError: [err: unknown, ctx: KrpcContext]
  close: []
}

export interface KrpcServer extends EventEmitter<KrpcServerEvents> {
  /**
   * Adds a method under `name`, called with `this` undefined.
   * @throws {UsageError} for an empty or taken name
   */
  register(name: string, fn: KrpcMethod): this
  /** Serves KRPC inside an existing `node:http` server, whose own limits then apply. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void
  listen(opts?: { host?: string; port?: number; signal?: AbortSignal }): Promise<{ host: string; port: number }>
  /** Stops accepting, lets calls in flight finish; `signal` destroys what is still open. */
  close(opts?: { signal?: AbortSignal }): Promise<void>
}

function peerOf(socket: Socket): PeerInfo {
  return { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }
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

/**
 * Per socket: its open exchanges, told by one 'close' listener per socket that it has closed (a
 * peer that pipelines may have any number of them), and its response in progress, so a late
 * Node error does not write a second one.
 */
interface SocketState {
  readonly open: Exchange[]
  response: ServerResponse | undefined
}

class Server extends EventEmitter<KrpcServerEvents> implements KrpcServer, ExchangeHost {
  readonly methods = new Map<string, MethodEntry>()
  readonly preMethodHook: PreMethodHook | undefined
  readonly limits: ResolvedLimits
  readonly exposeErrors: boolean
  readonly tmpDir: string
  #closing = false
  #http: HttpServer | undefined
  #closed: Promise<void> | undefined
  readonly #exchanges = new Set<Exchange>()
  #idle: (() => void) | undefined
  /** What the server keeps of each socket; see SocketState. */
  readonly #sockets = new WeakMap<Socket, SocketState>()

  constructor(options: KrpcServerOptions) {
    super()
    this.limits = resolveLimits(options.limits)
    this.preMethodHook = options.preMethodHook
    this.exposeErrors = options.exposeErrors ?? false
    this.tmpDir = options.tmpDir ?? tmpdir()
    if (options.methods !== undefined) this.#registerAll(options.methods, '')
  }

  get closing(): boolean {
    return this.#closing
  }

  #registerAll(methods: KrpcMethods, prefix: string): void {
    for (const key of Object.keys(methods)) {
      const value = methods[key]
      const name = prefix + key
      // Anything else is the holder's own data, which methods reach through `this`.
      if (typeof value === 'function') this.#add(name, value, methods)
      else if (typeof value === 'object' && value !== null) this.#registerAll(value, `${name}.`)
    }
  }

  #add(name: string, fn: KrpcMethod, holder: unknown): void {
    if (name === '') throw new UsageError('a method name must not be empty')
    if (this.methods.has(name)) throw new UsageError(`method ${name} is already registered`)
    this.methods.set(name, { fn, holder })
  }

  register(name: string, fn: KrpcMethod): this {
    if (typeof name !== 'string') throw new UsageError('a method name must be a string')
    if (typeof fn !== 'function') throw new UsageError(`method ${name} must be a function`)
    this.#add(name, fn, undefined)
    return this
  }

  clientError(err: KrpcError, peer: PeerInfo): void {
    this.emit('clientError', err, peer)
  }

  handlerError(err: unknown, ctx: KrpcContext): void {
    this.emit('handlerError', err, ctx)
  }

  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket
    const state = this.#sockets.get(socket) ?? this.#track(socket)
    state.response = res
    const exchange = new Exchange(this, req, res, this.#exchangeDone)
    state.open.push(exchange)
    this.#exchanges.add(exchange)
    // Mounted in a server of its user's, the handler may be called once the socket has closed
    // and its 'close' has passed.
    if (socket.destroyed) process.nextTick(() => exchange.socketClosed())
  }

  #track(socket: Socket): SocketState {
    const state: SocketState = { open: [], response: undefined }
    this.#sockets.set(socket, state)
    socket.once('close', () => {
      // A copy: an exchange told may finish, and leave the list, at once.
      for (const exchange of [...state.open]) exchange.socketClosed()
    })
    return state
  }

  #exchangeDone = (exchange: Exchange): void => {
    this.#exchanges.delete(exchange)
    const open = this.#sockets.get(exchange.socket)?.open
    if (open !== undefined) {
      // Nearly always the only one; an array, unlike a set, allocates nothing to add and remove it.
      const at = open.lastIndexOf(exchange)
      if (at === open.length - 1) open.pop()
      else if (at !== -1) open.splice(at, 1)
    }
    if (this.#closing) {
      // A keep-alive connection that goes idle while the server closes is closed at once.
      this.#http?.closeIdleConnections()
      if (this.#exchanges.size === 0) this.#idle?.()
    }
  }

  async listen(opts: { host?: string; port?: number; signal?: AbortSignal } = {}): Promise<{ host: string; port: number }> {
    if (this.#http !== undefined || this.#closing) throw new UsageError('listen() may be called once, before close()')
    const signal = opts.signal
    signal?.throwIfAborted()
    const http = createHttpServer(httpServerOptions(this.limits), this.handler)
    http.maxConnections = this.limits.maxConnections
    http.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
      this.emit('clientError', new KrpcTooManyConnectionsError(this.limits.maxConnections),
        { address: data?.remoteAddress ?? '', port: data?.remotePort ?? 0 })
    })
    http.on('clientError', (err: Error & { code?: unknown }, socket: Socket) => this.#onHttpClientError(err, socket))
    this.#http = http
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        http.close()
        reject(signal?.reason as Error)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      http.once('error', (err) => {
        signal?.removeEventListener('abort', onAbort)
        reject(err)
      })
      http.listen(opts.port ?? DEFAULT_PORT, opts.host ?? DEFAULT_HOST, () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      })
    })
    const address = http.address() as AddressInfo
    return { host: address.address, port: address.port }
  }

  #onHttpClientError(err: Error & { code?: unknown }, socket: Socket): void {
    const peer = peerOf(socket)
    if (err.code === 'HPE_INVALID_EOF_STATE') {
      // The peer left mid-request; a request already being served reports it itself.
      if ((this.#sockets.get(socket)?.open.length ?? 0) === 0) this.emit('clientError', new KrpcTruncatedError({ cause: err }), peer)
    } else if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
      const status = statusForParseError(err.code)
      this.emit('clientError', new KrpcBadRequestError(err.message, status, RpcCode.INVALID_REQUEST, { cause: err }), peer)
      // Node's own rule: answer unless a response on this socket has begun and not finished.
      const res = this.#sockets.get(socket)?.response
      if (socket.writable && (res === undefined || !res.headersSent || res.writableFinished)) {
        socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      }
    }
    socket.destroy()
  }

  close(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.#closed ??= this.#close()
    const signal = opts.signal
    if (signal !== undefined) {
      const destroy = (): void => {
        this.#http?.closeAllConnections()
        for (const exchange of this.#exchanges) exchange.destroy(new KrpcClosedError('the server closed', { cause: signal.reason }))
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
    const http = this.#http
    const stopped = http === undefined || !http.listening
      ? Promise.resolve()
      : new Promise<void>((resolve) => http.close(() => resolve()))
    http?.closeIdleConnections()
    if (this.#exchanges.size > 0) await new Promise<void>((resolve) => {
      this.#idle = resolve
    })
    http?.closeIdleConnections()
    await stopped
    this.emit('close')
  }
}

/** A KRPC server; call `listen()` to serve, or mount `handler` in an existing `node:http` server. */
export function createServer(options: KrpcServerOptions = {}): KrpcServer {
  return new Server(options)
}
