// createServer(): admission, the queue of waiting clients, serving one client at a time, and closing.
import { EventEmitter } from 'node:events'
import type net from 'node:net'
import { Listener, UsageError, checkOptions } from '@proto/framing'
import type { ListenAddress, ListenError, ListenOptions, OptionNames, PathAddress, PeerInfo, ProtoError, TcpAddress } from '@proto/framing'
import { runCommand } from './commands.ts'
import type { CommandHost } from './commands.ts'
import { ServerConnection } from './connection.ts'
import type { ServeSettings } from './connection.ts'
import { DEFAULT_BUSY, DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { channels } from './diagnostics.ts'
import { ONELINE_ERRORS, OnelineBusyError, toOnelineError } from './errors.ts'
import { LIMIT_NAMES, checkOptionNames, serverLimits } from './limits.ts'
import type { OnelineConnection, OnelineContext, OnelineHandler, OnelineLimits } from './types.ts'

/** Options of `createServer()`. */
export interface OnelineServerOptions {
  /** Answers every command that is not a built-in; `server.handle()` sets it too. Without one, such commands get no lines. @default undefined */
  handler?: OnelineHandler | undefined
  /** Remove one CR before the LF of each command. @default false */
  stripCR?: boolean | undefined
  /** Let any client stop the server with `shutdown`; when false it goes to the handler. @default true */
  allowShutdown?: boolean | undefined
  /** A connection arriving while a client is active waits in the queue, or is closed. @default 'queue' */
  busy?: 'queue' | 'refuse' | undefined
  /** What the server holds for its clients. @default {} (every limit at its default) */
  limits?: OnelineLimits | undefined
}

/** The events of an `OnelineServer`. Nothing is emitted as `'error'`. */
export interface OnelineServerEvents {
  /** A connection was admitted (after TLS and the PROXY header): it is active, or waits in the queue. */
  connection: [connection: OnelineConnection]
  /** A client's turn came: its commands are served from now on. */
  active: [connection: OnelineConnection]
  /**
   * A client was refused or closed for misbehaving or failing; the server carries on. `peer` is
   * the connection once one exists, else the `PeerInfo` of a client refused at admission (busy,
   * too many connections, a failed TLS handshake, a bad PROXY header).
   */
  clientError: [err: ProtoError, peer: OnelineConnection | PeerInfo]
  /** A handler threw or returned a line with LF; its client was closed. */
  handlerError: [err: unknown, ctx: OnelineContext]
  /** The listening socket failed to accept a connection (EMFILE, ...); the server keeps listening. */
  acceptError: [err: ListenError]
  /** A client sent `shutdown` and `allowShutdown` is on: the server is closing. */
  shutdown: [connection: OnelineConnection]
  /** The server is closed and every connection is gone. */
  close: []
}

/** A oneline server: one client served at a time, the others waiting in a queue. */
export interface OnelineServer extends EventEmitter<OnelineServerEvents>, AsyncDisposable {
  /**
   * Sets the handler of every command that is not a built-in, for every client, current and future.
   * @throws {UsageError} when `handler` is not a function
   */
  handle(handler: OnelineHandler): this
  /**
   * Binds and starts accepting: `{ host, port }` (port 0 picks a free one), `{ path }` for a unix
   * socket, with `tls`, `proxyProtocol`, `ipv6Only`, `backlog` and `signal`. Resolves with what
   * `address()` then returns.
   * @throws {OnelineListenError} naming the address, with the cause (a busy port, ...)
   * @throws {UsageError} for an unknown option or a bad value
   */
  listen(options?: ListenOptions & { readonly path?: undefined }): Promise<TcpAddress>
  /**
   * Listens on the unix socket `path` and resolves with `{ path }`.
   * @throws {OnelineListenError} naming the path, with the cause
   */
  listen(options: ListenOptions & { readonly path: string }): Promise<PathAddress>
  /**
   * Listens on TCP or on a unix socket, as `options.path` decides at run time, and resolves with
   * what `address()` then returns.
   * @throws {OnelineListenError} naming the address, with the cause
   */
  listen(options?: ListenOptions): Promise<ListenAddress>
  /** Where it listens: `{ host, port, family }` or `{ path }`; `null` before `listen()` resolves and after `close()`. */
  address(): ListenAddress | null
  /** Whether it is listening. */
  readonly listening: boolean
  /** The clients it holds: the active one and those waiting in the queue. */
  readonly connections: ReadonlySet<OnelineConnection>
  /** The client being served. */
  readonly active: OnelineConnection | null
  /** Connections waiting for their turn. */
  readonly queued: number
  /**
   * Stops accepting, lets a running handler finish and write its lines, then closes the active
   * and queued clients; resolves once every one is gone. Aborting `signal` destroys them at once.
   * @throws {UsageError} for an unknown option, as a rejection; the server is left as it was
   */
  close(options?: { signal?: AbortSignal | undefined }): Promise<void>
}

const OPTION_NAMES = {
  handler: true,
  stripCR: true,
  allowShutdown: true,
  busy: true,
  limits: LIMIT_NAMES,
} as const satisfies OptionNames<OnelineServerOptions>

const CLOSE_OPTION_NAMES = { signal: true } as const

/**
 * A oneline server. Call `listen()` to start it.
 * @throws {UsageError} for an unknown option or a bad value
 */
export function createServer(options: OnelineServerOptions = {}): OnelineServer {
  return new Server(options)
}

class Server extends EventEmitter<OnelineServerEvents> implements OnelineServer {
  #handler: OnelineHandler | undefined
  readonly #settings: ServeSettings
  readonly #refuse: boolean
  readonly #host: CommandHost
  readonly #listener: Listener<object>
  readonly #queue: ServerConnection[] = []
  readonly #connections = new Set<ServerConnection>()
  #active: ServerConnection | null = null
  #closing: Promise<void> | undefined

  constructor(options: OnelineServerOptions) {
    super()
    checkOptionNames(options, OPTION_NAMES, 'createServer()')
    const busy = options.busy ?? DEFAULT_BUSY
    if (busy !== 'queue' && busy !== 'refuse') throw new UsageError(`busy must be 'queue' or 'refuse', got ${String(busy)}`)
    if (options.handler !== undefined) this.handle(options.handler)
    const limits = serverLimits(options.limits)
    this.#settings = { limits, stripCR: options.stripCR ?? false }
    this.#refuse = busy === 'refuse'
    const allowShutdown = options.allowShutdown ?? true
    const handler = (): OnelineHandler | undefined => this.#handler
    this.#host = {
      get handler() {
        return handler()
      },
      allowShutdown,
      handlerError: (err, ctx) => this.emit('handlerError', err, ctx),
    }
    this.#listener = new Listener<object>({
      defaults: { host: DEFAULT_HOST, port: DEFAULT_PORT },
      maxConnections: limits.maxConnections,
      errors: ONELINE_ERRORS,
      onConnection: this.#admit,
      onClientError: (err, remote) => this.emit('clientError', err, remote),
      onAcceptError: (err) => this.emit('acceptError', err),
      diagnostics: { channels, server: this },
    })
  }

  handle(handler: OnelineHandler): this {
    if (typeof handler !== 'function') throw new UsageError(`a handler must be a function, got ${typeof handler}`)
    this.#handler = handler
    return this
  }

  get listening(): boolean {
    return this.#listener.listening
  }

  get connections(): ReadonlySet<OnelineConnection> {
    return this.#connections
  }

  get active(): OnelineConnection | null {
    return this.#active
  }

  get queued(): number {
    return this.#queue.length
  }

  address(): ListenAddress | null {
    return this.#listener.address()
  }

  listen(options?: ListenOptions & { readonly path?: undefined }): Promise<TcpAddress>
  listen(options: ListenOptions & { readonly path: string }): Promise<PathAddress>
  listen(options?: ListenOptions): Promise<ListenAddress>
  listen(options?: ListenOptions): Promise<ListenAddress> {
    return this.#listener.listen(options)
  }

  // Async so that a bad option is a rejection, as from listen() and every call of the client.
  async close(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    checkOptions(options, CLOSE_OPTION_NAMES, 'close()')
    this.#closing ??= this.#closeAll()
    const { signal } = options
    if (signal !== undefined) {
      if (signal.aborted) this.#destroyAll()
      else {
        const destroy = (): void => this.#destroyAll()
        signal.addEventListener('abort', destroy, { once: true })
        void this.#closing.then(() => signal.removeEventListener('abort', destroy))
      }
    }
    await this.#closing
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  async #closeAll(): Promise<void> {
    const stopped = this.#listener.close()
    for (const waiting of this.#queue.splice(0)) waiting.destroy()
    const active = this.#active
    // A busy client is released by its serving once its command has written its lines.
    if (active !== null && !active.busy) active.release()
    await stopped
    await Promise.all(Array.from(this.#connections, (connection) => connection.closed))
    this.emit('close')
  }

  #destroyAll(): void {
    for (const connection of this.#connections) connection.destroy()
  }

  /** A connection the listener admitted: refused when busy, else served at once or queued. */
  readonly #admit = (socket: net.Socket, remote: PeerInfo): void => {
    if (this.#closing !== undefined) {
      socket.destroy()
      return
    }
    const { maxQueue, maxLineBytes } = this.#settings.limits
    if (this.#active !== null && (this.#refuse || this.#queue.length >= maxQueue)) {
      socket.destroy()
      const reason = this.#refuse ? 'busy with another client' : `waiting queue is full (${maxQueue})`
      this.emit('clientError', new OnelineBusyError(reason), remote)
      return
    }
    const connection = new ServerConnection(socket, remote, this.#gone)
    this.#connections.add(connection)
    const served = this.#active === null
    if (served) {
      this.#active = connection
      connection.activate(this.#settings)
    } else {
      // Read while it waits, so that its leaving is seen; what it sends is held up to one line's limit.
      connection.wait(maxLineBytes, () => this.#leaveQueue(connection))
      this.#queue.push(connection)
    }
    if (channels.connectionOpen.hasSubscribers) channels.connectionOpen.publish({ side: 'server', remote, connection })
    this.emit('connection', connection)
    if (served) this.#serve(connection)
  }

  readonly #gone = (connection: ServerConnection, error: ProtoError | undefined): void => {
    this.#connections.delete(connection)
    this.#leaveQueue(connection)
    if (channels.connectionClose.hasSubscribers) {
      channels.connectionClose.publish({ side: 'server', remote: connection.remote, connection, ...(error === undefined ? {} : { error }) })
    }
  }

  #leaveQueue(connection: ServerConnection): void {
    const index = this.#queue.indexOf(connection)
    if (index !== -1) this.#queue.splice(index, 1)
  }

  #next(): void {
    for (let waiting = this.#queue.shift(); waiting !== undefined; waiting = this.#queue.shift()) {
      // 'close' comes a tick after destroy, so a dead socket can still be in the queue.
      if (waiting.destroyed) continue
      this.#active = waiting
      waiting.activate(this.#settings)
      this.#serve(waiting)
      return
    }
  }

  #serve(connection: ServerConnection): void {
    this.emit('active', connection)
    void this.#serveCommands(connection)
  }

  async #serveCommands(connection: ServerConnection): Promise<void> {
    try {
      for await (const raw of connection.commands()) {
        // close() between two pipelined commands: the rest stay unanswered.
        if (connection.released) break
        connection.busy = true
        const outcome = await runCommand(raw, connection.source(), this.#host)
        connection.busy = false
        if (outcome === 'shutdown') {
          this.emit('shutdown', connection)
          void this.close()
        }
        if (outcome !== 'next' || this.#closing !== undefined) break
      }
    } catch (err) {
      if (!connection.released) this.emit('clientError', toOnelineError(err), connection)
    }
    connection.release()
    this.#active = null
    this.#next()
  }
}
