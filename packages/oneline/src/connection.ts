// A server's client from admission to close: the queued socket, then the framed connection it is served on.
import type { Buffer } from 'node:buffer'
import type { Duplex } from 'node:stream'
import { FramedConnection, LineDecoder, UsageError } from '@proto/framing'
import type { PeerInfo, ProtoError } from '@proto/framing'
import type { CommandSource } from './commands.ts'
import { OnelineClosedError, toOnelineError } from './errors.ts'
import type { ServerLimits } from './limits.ts'
import type { OnelineConnection, OnelineConnectionState } from './types.ts'
import { Waiting } from './waiting.ts'

/** What serving a connection needs to know of the server's options. */
export interface ServeSettings {
  readonly limits: ServerLimits
  readonly stripCR: boolean
}

const ignore = (): void => {}

/** One client of a server: `OnelineConnection` to the application, and its socket's owner. */
export class ServerConnection implements OnelineConnection {
  readonly remote: PeerInfo
  readonly closed: Promise<void>
  /** A command is being handled, so closing must wait for it. */
  busy = false
  /** The server has begun closing it, so a failure of its reads is not the peer's doing. */
  released = false
  readonly #socket: Duplex
  readonly #controller = new AbortController()
  readonly #onClose: (connection: ServerConnection, error: ProtoError | undefined) => void
  #state: OnelineConnectionState = 'queued'
  #waiting: Waiting | undefined
  #source: CommandSource | undefined
  #commands: AsyncIterable<Buffer> | undefined
  #resolveClosed: () => void = ignore

  /** `onClose` is called once, when the socket has closed, with what ended it if it failed. */
  constructor(socket: Duplex, remote: PeerInfo, onClose: (connection: ServerConnection, error: ProtoError | undefined) => void) {
    this.#socket = socket
    this.remote = remote
    this.#onClose = onClose
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve))
    // While it is served, FramedConnection reports the socket's errors; this covers the time
    // before and after, when the socket's end is all that matters.
    socket.on('error', ignore)
    socket.once('close', () => {
      // A served connection finishes once FramedConnection has seen the close, with its error.
      if (this.#source === undefined) this.#finish(undefined)
    })
  }

  get address(): string {
    return this.remote.address
  }

  get port(): number {
    return this.remote.port
  }

  get state(): OnelineConnectionState {
    return this.#state
  }

  /** Whether its socket is destroyed, which its state says only a tick later. */
  get destroyed(): boolean {
    return this.#socket.destroyed
  }

  /** Waits in the queue, holding up to about `holdBytes` of what it sends; `leave` is called if it goes first. */
  wait(holdBytes: number, leave: () => void): void {
    this.#waiting = new Waiting(this.#socket, holdBytes, leave)
  }

  /** Its turn has come: it is served on a framed connection from now on. */
  activate(settings: ServeSettings): void {
    const held = this.#waiting?.take()
    this.#waiting = undefined
    const { limits } = settings
    const decoder = new LineDecoder({ maxLineBytes: limits.maxLineBytes, stripCR: settings.stripCR, trailing: 'discard' })
    const conn = new FramedConnection(this.#socket, {
      decoder,
      idleTimeout: limits.idleTimeout,
      maxWriteBufferBytes: limits.maxWriteBufferBytes,
    })
    this.#state = 'active'
    const writeOptions = limits.idleTimeout === 0 ? undefined : { timeout: limits.idleTimeout }
    this.#source = { connection: this, conn, signal: this.#controller.signal, writeOptions }
    void conn.closed.then((err) => this.#finish(err))
    const frames = conn.frames()
    this.#commands = held === undefined || held.length === 0 ? frames : heldFirst(held, decoder, frames)
  }

  /**
   * The commands of an active client, those it sent while it waited first.
   * @throws {UsageError} before `activate()`
   */
  commands(): AsyncIterable<Buffer> {
    if (this.#commands === undefined) throw new UsageError('the connection is not active')
    return this.#commands
  }

  /**
   * Where its commands come from and their replies go, for `runCommand`.
   * @throws {UsageError} before `activate()`
   */
  source(): CommandSource {
    if (this.#source === undefined) throw new UsageError('the connection is not active')
    return this.#source
  }

  /**
   * Sends FIN after what is already written, then frees the socket; the next client need not
   * wait. A client that takes none of that for `idleTimeout` is destroyed.
   */
  release(): void {
    if (this.released) return
    this.released = true
    const source = this.#source
    if (source === undefined) {
      this.#socket.destroy()
      return
    }
    const { conn } = source
    // Reading has stopped, so the peer's FIN would never be seen: destroy once ours is out.
    // Unbounded, the flush of a client that reads nothing would hold its socket, and a place
    // among maxConnections, for as long as it stays.
    void conn.end(source.writeOptions).then(
      () => conn.destroy(),
      () => conn.destroy(),
    )
  }

  /** Closes it at once. */
  destroy(): void {
    this.released = true
    const conn = this.#source?.conn
    if (conn === undefined) this.#socket.destroy()
    else conn.destroy()
  }

  #finish(err: ProtoError | undefined): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    const error = err === undefined ? undefined : toOnelineError(err)
    this.#controller.abort(new OnelineClosedError('client went away', error === undefined ? undefined : { cause: error }))
    this.#resolveClosed()
    this.#onClose(this, error)
  }
}

/** The commands in what a queued client sent while it waited, then the rest; `decoder` goes on into `frames`. */
async function* heldFirst(held: Buffer, decoder: LineDecoder, frames: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* decoder.push(held)
  // As in framing's reads, a fault comes after the commands before it.
  if (decoder.error !== undefined) throw decoder.error
  yield* frames
}
