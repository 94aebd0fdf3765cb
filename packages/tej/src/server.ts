// createServer(): framing's Listener admits connections, each becomes a TEJ connection sharing the server's handler.
import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { Listener, UsageError } from '@proto/framing'
import type { ListenAddress, ListenOptions, PathAddress, PeerInfo, TcpAddress } from '@proto/framing'
import { Connection } from './connection.ts'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { channels } from './diagnostics.ts'
import { TEJ_ERRORS } from './errors.ts'
import { resolveServerOptions } from './limits.ts'
import type { ResolvedServerOptions } from './limits.ts'
import type { TejConnection, TejContext, TejHandler, TejIncomingFrame, TejServer, TejServerEvents, TejServerOptions } from './types.ts'

class Server extends EventEmitter<TejServerEvents> implements TejServer {
  readonly #options: ResolvedServerOptions
  readonly #listener: Listener<TejServer>
  readonly #connections = new Set<TejConnection>()
  readonly #running = new Set<Promise<void>>()
  #handler: TejHandler | undefined
  #closing: Promise<void> | undefined

  constructor(options: TejServerOptions | undefined) {
    super()
    this.#options = resolveServerOptions(options)
    this.#handler = this.#options.handler
    this.#listener = new Listener<TejServer>({
      defaults: { host: DEFAULT_HOST, port: DEFAULT_PORT },
      maxConnections: this.#options.maxConnections,
      handshakeTimeout: this.#options.handshakeTimeout,
      errors: TEJ_ERRORS,
      onConnection: (socket, remote) => {
        this.#open(socket, remote)
      },
      onClientError: (err, remote) => this.emit('clientError', err, remote),
      onAcceptError: (err) => this.emit('acceptError', err),
      diagnostics: { channels, server: this },
    })
  }

  get connections(): ReadonlySet<TejConnection> {
    return this.#connections
  }

  get listening(): boolean {
    return this.#listener.listening
  }

  address(): ListenAddress | null {
    return this.#listener.address()
  }

  handle(handler: TejHandler): this {
    if (typeof handler !== 'function') throw new UsageError('handle() takes a function')
    this.#handler = handler
    return this
  }

  listen(options?: ListenOptions & { readonly path?: undefined }): Promise<TcpAddress>
  listen(options: ListenOptions & { readonly path: string }): Promise<PathAddress>
  listen(options?: ListenOptions): Promise<ListenAddress>
  listen(options?: ListenOptions): Promise<ListenAddress> {
    return this.#listener.listen(options)
  }

  close(opts?: { signal?: AbortSignal | undefined }): Promise<void> {
    this.#closing ??= this.#close(opts?.signal)
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #close(signal: AbortSignal | undefined): Promise<void> {
    const stopped = this.#listener.close()
    // Closing with an aborted signal destroys a connection at once, handlers or not.
    const onAbort = (): void => {
      for (const conn of this.#connections) void conn.close({ signal })
    }
    if (signal?.aborted === true) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
    await Promise.allSettled([...this.#running])
    await Promise.all([...this.#connections].map((conn) => conn.close({ signal })))
    await Promise.all([...this.#connections].map((conn) => conn.closed))
    await stopped
    signal?.removeEventListener('abort', onAbort)
    this.emit('close')
  }

  #open(socket: Socket, remote: PeerInfo): void {
    if (this.#closing !== undefined) {
      socket.destroy()
      return
    }
    // framing batches each tick's writes into one, so Nagle's delay only adds latency.
    socket.setNoDelay(true)
    const conn = new Connection(socket, {
      ...this.#options,
      side: 'server',
      remote,
      handler: () => (this.#handler === undefined ? undefined : this.#run),
      onReceiveError: (err, from) => this.emit('clientError', err, from),
    })
    this.#connections.add(conn)
    conn.on('handlerError', (err, ctx) => this.emit('handlerError', err, ctx))
    void conn.closed.then(() => this.#connections.delete(conn))
    this.emit('connection', conn)
  }

  /** The handler as every connection calls it: a closing server takes no new frame, and close() waits for those running. */
  readonly #run = async (frame: TejIncomingFrame, ctx: TejContext): Promise<void> => {
    const handler = this.#handler
    if (this.#closing !== undefined || handler === undefined) return
    const run = (async () => handler(frame, ctx))()
    const tracked = run.catch(() => undefined)
    this.#running.add(tracked)
    try {
      await run
    } finally {
      this.#running.delete(tracked)
    }
  }
}

/**
 * A TEJ server; call `listen()` to start it.
 * @throws {UsageError} for an unknown option name or a value out of range
 */
export function createServer(options?: TejServerOptions): TejServer {
  return new Server(options)
}
