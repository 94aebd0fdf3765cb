import { EventEmitter } from 'node:events'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { checkLimit } from '@proto/framing'
import { DEFAULT_HOST, DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT } from './constants.ts'
import { KarpListenError, KarpTooManyConnectionsError } from './errors.ts'
import type { KarpError } from './errors.ts'
import { Peer, addRoute, resolveLimits, routeTable } from './peer.ts'
import type { KarpContext, KarpHandler, KarpOptions, KarpPeer, PeerLimits } from './peer.ts'

/** Options of `createServer()`. */
export interface KarpServerOptions extends KarpOptions {
  /** Connections open at once; one more is closed at once and reported. @default 1024 */
  maxConnections?: number | undefined
}

export interface KarpServerEvents {
  connection: [peer: KarpPeer]
  /** A peer sent something unusable or hit a limit; karp keeps the connection unless it cannot go on. */
  clientError: [err: KarpError, peer: KarpPeer]
  handlerError: [err: unknown, ctx: KarpContext]
  close: []
}

/** Accepts connections and serves its routes on each; every connection is a full `KarpPeer`. */
export interface KarpServer extends EventEmitter<KarpServerEvents> {
  /** Registers a handler for every connection, current and future. */
  route(name: string, handler: KarpHandler): this
  /** Binds; `host` defaults to 127.0.0.1 and `port` to 7755 (`0` picks a free one). */
  listen(opts?: {
    host?: string | undefined
    port?: number | undefined
    signal?: AbortSignal | undefined
  }): Promise<{ host: string; port: number }>
  readonly peers: ReadonlySet<KarpPeer>
  /** Stops accepting, then closes every connection as `KarpPeer.close()` does. */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void>
}

class Server extends EventEmitter<KarpServerEvents> implements KarpServer {
  readonly #net: net.Server
  readonly #routes: Map<string, KarpHandler>
  readonly #limits: PeerLimits
  readonly #maxConnections: number
  readonly #peers = new Set<Peer>()
  #netClosed: Promise<void> | undefined
  #closeEmitted = false

  constructor(options: KarpServerOptions) {
    super()
    this.#limits = resolveLimits(options)
    this.#maxConnections = checkLimit('maxConnections', options.maxConnections, DEFAULT_MAX_CONNECTIONS)
    this.#routes = routeTable(options.routes)
    this.#net = net.createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket))
    // Accept failures (EMFILE and the like) are the listener's business, not a reason to crash;
    // listen() reports its own failure.
    this.#net.on('error', () => {})
  }

  get peers(): ReadonlySet<KarpPeer> {
    return this.#peers
  }

  route(name: string, handler: KarpHandler): this {
    addRoute(this.#routes, name, handler)
    return this
  }

  async listen(opts?: {
    host?: string | undefined
    port?: number | undefined
    signal?: AbortSignal | undefined
  }): Promise<{ host: string; port: number }> {
    const host = opts?.host ?? DEFAULT_HOST
    const port = opts?.port ?? DEFAULT_PORT
    const signal = opts?.signal
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        this.#net.off('error', onError)
        signal?.removeEventListener('abort', onAbort)
        reject(new KarpListenError(host, port, { cause: err }))
      }
      const onAbort = (): void => {
        this.#net.off('error', onError)
        void this.close()
        reject(signal?.reason as Error)
      }
      this.#net.once('error', onError)
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        this.#net.listen({ host, port }, () => {
          this.#net.off('error', onError)
          signal?.removeEventListener('abort', onAbort)
          resolve()
        })
      } catch (err) {
        // A bad port or a second listen() throws here rather than emitting 'error'.
        onError(err as Error)
      }
    })
    signal?.addEventListener('abort', () => void this.close(), { once: true })
    const address = this.#net.address() as AddressInfo
    return { host: address.address, port: address.port }
  }

  async close(opts?: { signal?: AbortSignal | undefined }): Promise<void> {
    this.#netClosed ??= new Promise<void>((resolve) => {
      // The callback's error only says the server was not listening, which is fine here.
      this.#net.close(() => resolve())
    })
    await Promise.all([...this.#peers].map((peer) => peer.close(opts)))
    await this.#netClosed
    if (!this.#closeEmitted) {
      this.#closeEmitted = true
      this.emit('close')
    }
  }

  #accept(socket: net.Socket): void {
    const peer = new Peer(socket, this.#limits, new Map(), this.#routes)
    if (this.#netClosed !== undefined) {
      void peer.close({ signal: AbortSignal.abort() })
      return
    }
    if (this.#peers.size >= this.#maxConnections) {
      const err = new KarpTooManyConnectionsError(this.#maxConnections)
      void peer.close({ signal: AbortSignal.abort(err) })
      this.emit('clientError', err, peer)
      return
    }
    this.#peers.add(peer)
    peer.on('protocolError', (err) => this.emit('clientError', err, peer))
    peer.on('handlerError', (err, ctx) => this.emit('handlerError', err, ctx))
    void peer.closed.then(() => this.#peers.delete(peer))
    this.emit('connection', peer)
  }
}

/**
 * A KARP server.
 * @throws {KarpInvalidRouteError} for a route name that is not `[a-z_]+` once lowercased
 * @throws {UsageError} for a bad limit
 */
export function createServer(options: KarpServerOptions = {}): KarpServer {
  return new Server(options)
}
