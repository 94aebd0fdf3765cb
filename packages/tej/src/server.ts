import { EventEmitter } from 'node:events'
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { checkLimit } from '@proto/framing'
import { TejConnection } from './connection.ts'
import { DEFAULT_HOST, DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT } from './constants.ts'
import { TejTooManyConnectionsError, type TejError } from './errors.ts'
import type { TejIncomingFrame } from './incoming.ts'
import { resolveOptions, type ResolvedOptions, type TejOptions } from './options.ts'

/** Options of `createServer`. */
export interface TejServerOptions extends TejOptions {
  /** Open connections; one more is closed at once and reported as `clientError`. @default 1024 */
  maxConnections?: number | undefined
}

/** Events of a `TejServer`. */
export interface TejServerEvents {
  connection: [conn: TejConnection]
  /** A peer sent something bad, stopped mid-frame, went idle, or was one too many; it is closed. */
  clientError: [err: TejError, conn: TejConnection]
  handlerError: [err: unknown, conn: TejConnection]
  close: []
}

/** Options of `listen`. */
export interface TejListenOptions {
  /** @default '127.0.0.1' */
  host?: string | undefined
  /** 0 picks a free port. @default 8000 */
  port?: number | undefined
  /** Aborting before the server listens rejects with `signal.reason`. @default undefined */
  signal?: AbortSignal | undefined
}

/** A TEJ server: every accepted socket becomes a `TejConnection`. */
export class TejServer extends EventEmitter<TejServerEvents> {
  readonly #server: Server
  readonly #options: ResolvedOptions
  readonly #onFrame: TejOptions['onFrame']
  readonly #maxConnections: number
  readonly #connections = new Set<TejConnection>()
  readonly #handlers = new Set<Promise<void>>()
  #closing: Promise<void> | undefined

  /** @throws {UsageError} for an option that is not an integer in range */
  constructor(options?: TejServerOptions) {
    super()
    this.#options = resolveOptions(options)
    this.#maxConnections = checkLimit('maxConnections', options?.maxConnections, DEFAULT_MAX_CONNECTIONS)
    const onFrame = options?.onFrame
    this.#onFrame = onFrame && ((frame, conn) => this.#runHandler(onFrame, frame, conn))
    this.#server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.#accept(socket)
    })
    // Accept errors (EMFILE) only cost the one connection; there is nobody to report them to.
    this.#server.on('error', () => undefined)
  }

  /** The open connections. */
  get connections(): ReadonlySet<TejConnection> {
    return this.#connections
  }

  /** Starts listening; resolves with the bound address (the real port when 0 was asked). */
  async listen(opts?: TejListenOptions): Promise<{ host: string; port: number }> {
    const signal = opts?.signal
    signal?.throwIfAborted()
    const server = this.#server
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        signal?.removeEventListener('abort', onAbort)
        reject(err)
      }
      const onAbort = (): void => {
        server.off('error', onError)
        server.close()
        reject(signal?.reason as Error)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      server.once('error', onError)
      server.listen({ host: opts?.host ?? DEFAULT_HOST, port: opts?.port ?? DEFAULT_PORT }, () => {
        server.off('error', onError)
        signal?.removeEventListener('abort', onAbort)
        resolve()
      })
    })
    const address = server.address() as AddressInfo
    return { host: address.address, port: address.port }
  }

  /**
   * Stops accepting, lets running `onFrame` calls and queued sends finish, then closes every
   * connection and resolves when all have ended. Aborting `signal` destroys what is still open.
   */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void> {
    this.#closing ??= this.#close(opts?.signal)
    return this.#closing
  }

  async #close(signal: AbortSignal | undefined): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve()
      })
    })
    // Closing with an aborted signal destroys a connection at once, handlers or not.
    const onAbort = (): void => {
      for (const conn of this.#connections) void conn.close({ signal })
    }
    if (signal?.aborted === true) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
    await Promise.allSettled([...this.#handlers])
    await Promise.all([...this.#connections].map((conn) => conn.close({ signal })))
    await Promise.all([...this.#connections].map((conn) => conn.closed))
    await stopped
    signal?.removeEventListener('abort', onAbort)
    this.emit('close')
  }

  #accept(socket: Socket): void {
    if (this.#connections.size >= this.#maxConnections) {
      const err = new TejTooManyConnectionsError(this.#maxConnections)
      this.emit('clientError', err, new TejConnection(socket, this.#options, { refuse: err }))
      return
    }
    const conn = new TejConnection(
      socket,
      { ...this.#options, onFrame: this.#onFrame },
      { onReceiveError: (err, from) => this.emit('clientError', err, from) },
    )
    this.#connections.add(conn)
    conn.on('handlerError', (err, from) => this.emit('handlerError', err, from))
    void conn.closed.then(() => this.#connections.delete(conn))
    this.emit('connection', conn)
  }

  async #runHandler(
    onFrame: NonNullable<TejOptions['onFrame']>,
    frame: TejIncomingFrame,
    conn: TejConnection,
  ): Promise<void> {
    // A closing server takes no new work; the frame is discarded.
    if (this.#closing !== undefined) return
    const run = (async () => onFrame(frame, conn))()
    const tracked = run.catch(() => undefined)
    this.#handlers.add(tracked)
    try {
      await run
    } finally {
      this.#handlers.delete(tracked)
    }
  }
}

/** A TEJ server; call `listen()` to start it. */
export function createServer(options?: TejServerOptions): TejServer {
  return new TejServer(options)
}
