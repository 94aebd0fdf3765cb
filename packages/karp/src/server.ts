// createServer(): a listener that admits connections and serves its handlers on each.
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { Listener, checkOptions } from '@proto/framing'
import type { ListenAddress, ListenOptions, OptionNames, PathAddress, PeerInfo, TcpAddress } from '@proto/framing'
import { Connection } from './connection.ts'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { channels } from './diagnostics.ts'
import { KARP_ERRORS } from './errors.ts'
import type { KarpListenError } from './errors.ts'
import { addHandler, handlerTable } from './handlers.ts'
import { SERVER_LIMIT_NAMES, resolveServerLimits } from './limits.ts'
import { OPTION_NAMES, resolveConfig } from './options.ts'
import type { ConnectionConfig } from './options.ts'
import type { KarpClientError, KarpConnection, KarpHandler, KarpServer, KarpServerEvents, KarpServerOptions } from './types.ts'

const SERVER_OPTION_NAMES = { ...OPTION_NAMES, limits: SERVER_LIMIT_NAMES } as const satisfies OptionNames<KarpServerOptions>

class Server extends EventEmitter<KarpServerEvents> implements KarpServer {
  readonly #listener: Listener<KarpServer>
  readonly #config: ConnectionConfig
  readonly #handlers: Map<string, KarpHandler>
  readonly #connections = new Set<Connection>()
  #closing = false
  #closeEmitted = false

  constructor(options: KarpServerOptions) {
    super()
    checkOptions(options, SERVER_OPTION_NAMES, 'createServer()')
    const limits = resolveServerLimits(options.limits)
    this.#config = resolveConfig(options, limits)
    this.#handlers = handlerTable(options.handlers)
    this.#listener = new Listener<KarpServer>({
      defaults: { host: DEFAULT_HOST, port: DEFAULT_PORT },
      maxConnections: limits.maxConnections,
      handshakeTimeout: limits.handshakeTimeout,
      errors: KARP_ERRORS,
      onConnection: (socket, remote) => this.#open(socket, remote),
      onClientError: (err, remote) => this.emit('clientError', err as KarpClientError, remote),
      onAcceptError: (err) => this.emit('acceptError', err as KarpListenError),
      diagnostics: { channels, server: this },
    })
  }

  get connections(): ReadonlySet<KarpConnection> {
    return this.#connections
  }

  get listening(): boolean {
    return this.#listener.listening
  }

  address(): ListenAddress | null {
    return this.#listener.address()
  }

  handle(route: string, handler: KarpHandler): this {
    addHandler(this.#handlers, route, handler)
    return this
  }

  listen(options?: ListenOptions & { readonly path?: undefined }): Promise<TcpAddress>
  listen(options: ListenOptions & { readonly path: string }): Promise<PathAddress>
  listen(options?: ListenOptions): Promise<ListenAddress>
  listen(options?: ListenOptions): Promise<ListenAddress> {
    return this.#listener.listen(options)
  }

  async close(opts?: { signal?: AbortSignal | undefined }): Promise<void> {
    this.#closing = true
    await this.#listener.close()
    await Promise.all([...this.#connections].map((connection) => connection.close(opts)))
    if (!this.#closeEmitted) {
      this.#closeEmitted = true
      this.emit('close')
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  #open(socket: Duplex, remote: PeerInfo): void {
    if (this.#closing) {
      socket.destroy()
      return
    }
    const connection = new Connection(socket, { side: 'server', remote, config: this.#config, handlers: new Map(), fallback: this.#handlers })
    this.#connections.add(connection)
    connection.on('protocolError', (err) => this.emit('clientError', err, connection))
    connection.on('handlerError', (err, ctx) => this.emit('handlerError', err, ctx))
    void connection.closed.then(() => this.#connections.delete(connection))
    this.emit('connection', connection)
  }
}

/**
 * A KARP server; `listen()` starts it.
 * @throws {KarpInvalidRouteError} for a route that is not `[a-z_]+` once lowercased
 * @throws {UsageError} for an unknown option or a bad value
 */
export function createServer(options: KarpServerOptions = {}): KarpServer {
  return new Server(options)
}
