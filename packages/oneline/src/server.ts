import { EventEmitter } from 'node:events'
import net from 'node:net'
import { checkLimit, FramedConnection, LineDecoder, UsageError } from '@proto/framing'
import type { WriteBufferFullError } from '@proto/framing'
import { decodeCommand, encodeLine } from './codec.ts'
import {
  Command,
  DEFAULT_BUSY,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_QUEUE,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PORT,
  PONG,
} from './constants.ts'
import { OnelineBusyError, OnelineClosedError, OnelineUnpromptedError, toOnelineError } from './errors.ts'
import type { OnelineError } from './errors.ts'
import { WaitingConnection } from './waiting.ts'

/** Address of a connected client. */
export interface PeerInfo {
  address: string
  port: number
}

/** What a handler receives with each command. */
export interface OnelineContext {
  /** The command bytes were not valid UTF-8 (the text then carries U+FFFD). */
  readonly invalid: boolean
  /** Exact command bytes, LF removed (CR kept unless `stripCR`). */
  readonly raw: Uint8Array
  /** Aborts when the client goes away. */
  readonly signal: AbortSignal
  readonly peer: PeerInfo
  /** Writes one line now; only while the handler runs, else `ERR_ONELINE_UNPROMPTED`. */
  send(line: string): void
}

/** One line, several lines, or none. */
export type OnelineReply = string | string[] | void
export type OnelineHandler = (command: string, ctx: OnelineContext) => OnelineReply | Promise<OnelineReply>

export interface OnelineServerOptions {
  /** Answers every command that is not a built-in. Without one, such commands get no lines. @default undefined */
  handler?: OnelineHandler
  /** Remove one CR before the LF of each command. @default false */
  stripCR?: boolean
  /** Let any client stop the server with `shutdown`; when false it goes to the handler. @default true */
  allowShutdown?: boolean
  /** A connection arriving while a client is active waits in the queue, or is closed. @default 'queue' */
  busy?: 'queue' | 'refuse'
  /** Connections that may wait for their turn. @default 16 */
  maxQueue?: number
  /** Bytes of a command before its LF, CR included. @default 65_536 */
  maxLineBytes?: number
  /** Milliseconds the active client may stay silent; 0 is off. @default 0 */
  idleTimeout?: number
  /** Unsent bytes held for one client. @default 67_108_864 */
  maxWriteBufferBytes?: number
}

export interface OnelineServerEvents {
  /** A client became active. */
  connection: [peer: PeerInfo]
  /** A client was refused or closed for misbehaving or failing; the server carries on. */
  clientError: [err: OnelineError | WriteBufferFullError, peer: PeerInfo]
  /** A handler threw or returned a line with LF; its client was closed. */
  handlerError: [err: unknown, ctx: OnelineContext]
  /** A client sent `shutdown`; the server is closing. */
  shutdown: [peer: PeerInfo]
  close: []
}

export interface OnelineServer extends EventEmitter<OnelineServerEvents> {
  listen(opts?: { host?: string; port?: number; signal?: AbortSignal }): Promise<{ host: string; port: number }>
  /** The client being served. */
  readonly active: PeerInfo | null
  /** Connections waiting for their turn. */
  readonly queued: number
  /** Stops accepting, lets the active command finish, then closes every client. */
  close(opts?: { signal?: AbortSignal }): Promise<void>
}

export function createServer(options: OnelineServerOptions = {}): OnelineServer {
  return new Server(options)
}

interface Session {
  readonly conn: FramedConnection
  readonly peer: PeerInfo
  readonly signal: AbortSignal
  /** A command is being handled, so closing must wait for it. */
  busy: boolean
  /** The server has begun closing this connection, so its read failure is not the peer's doing. */
  released: boolean
}

type Outcome = 'next' | 'leave' | 'shutdown'

const ignore = (): void => {}

function isPromiseLike(value: unknown): value is PromiseLike<OnelineReply> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function'
}

const PONG_LINE = encodeLine(PONG)

/** The commands in what a queued client sent while it waited, then the rest; `decoder` goes on into `frames`. */
async function* heldFirst(held: Buffer, decoder: LineDecoder, frames: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* decoder.push(held)
  // As in framing's reads, a fault comes after the commands before it.
  if (decoder.error !== undefined) throw decoder.error
  yield* frames
}

class Server extends EventEmitter<OnelineServerEvents> implements OnelineServer {
  readonly #handler: OnelineHandler | undefined
  readonly #stripCR: boolean
  readonly #allowShutdown: boolean
  readonly #refuse: boolean
  readonly #maxQueue: number
  readonly #maxLineBytes: number
  readonly #idleTimeout: number
  /** What toOnelineError names when a client passes a limit. */
  readonly #limits: { maxLineBytes: number; idleTimeout: number }
  readonly #maxWriteBufferBytes: number
  readonly #net: net.Server
  readonly #queue: WaitingConnection[] = []
  /** Every served connection until it has closed, the active one included. */
  readonly #open = new Set<FramedConnection>()
  #active: Session | null = null
  #closing: Promise<void> | undefined

  constructor(options: OnelineServerOptions) {
    super()
    const busy = options.busy ?? DEFAULT_BUSY
    if (busy !== 'queue' && busy !== 'refuse') throw new UsageError(`busy must be 'queue' or 'refuse', got ${String(busy)}`)
    this.#handler = options.handler
    this.#stripCR = options.stripCR ?? false
    this.#allowShutdown = options.allowShutdown ?? true
    this.#refuse = busy === 'refuse'
    this.#maxQueue = checkLimit('maxQueue', options.maxQueue, DEFAULT_MAX_QUEUE, 0)
    this.#maxLineBytes = checkLimit('maxLineBytes', options.maxLineBytes, DEFAULT_MAX_LINE_BYTES)
    this.#idleTimeout = checkLimit('idleTimeout', options.idleTimeout, DEFAULT_IDLE_TIMEOUT, 0)
    this.#limits = { maxLineBytes: this.#maxLineBytes, idleTimeout: this.#idleTimeout }
    this.#maxWriteBufferBytes = checkLimit('maxWriteBufferBytes', options.maxWriteBufferBytes, DEFAULT_MAX_WRITE_BUFFER_BYTES)
    // pauseOnConnect: nothing is read before the connection is served or queued.
    this.#net = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, this.#accept)
    // Accept failures such as EMFILE leave the server listening; they must not crash the process.
    this.#net.on('error', ignore)
  }

  get active(): PeerInfo | null {
    return this.#active?.peer ?? null
  }

  get queued(): number {
    return this.#queue.length
  }

  async listen(opts: { host?: string; port?: number; signal?: AbortSignal } = {}): Promise<{ host: string; port: number }> {
    const { host = DEFAULT_HOST, port = DEFAULT_PORT, signal } = opts
    signal?.throwIfAborted()
    if (this.#closing !== undefined) throw new UsageError('the server is closed')
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error): void => {
        this.#net.off('error', settle)
        signal?.removeEventListener('abort', abort)
        if (err === undefined) resolve()
        else reject(err)
      }
      const abort = (): void => {
        this.#net.close()
        settle(signal?.reason as Error)
      }
      this.#net.on('error', settle)
      signal?.addEventListener('abort', abort, { once: true })
      this.#net.listen({ host, port }, () => settle())
    })
    const address = this.#net.address() as net.AddressInfo
    return { host: address.address, port: address.port }
  }

  close(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.#closing ??= this.#closeAll()
    const { signal } = opts
    if (signal !== undefined) {
      if (signal.aborted) this.#destroyAll()
      else {
        const destroy = (): void => this.#destroyAll()
        signal.addEventListener('abort', destroy, { once: true })
        void this.#closing.then(() => signal.removeEventListener('abort', destroy))
      }
    }
    return this.#closing
  }

  async #closeAll(): Promise<void> {
    // net.Server#close calls back once every accepted socket has closed, ours included.
    const closed = new Promise<void>((resolve) => this.#net.close(() => resolve()))
    for (const waiting of this.#queue.splice(0)) waiting.socket.destroy()
    const session = this.#active
    // A busy session ends itself once its command has written its lines.
    if (session !== null && !session.busy) this.#release(session)
    await closed
    this.emit('close')
  }

  #destroyAll(): void {
    for (const waiting of this.#queue.splice(0)) waiting.socket.destroy()
    for (const conn of this.#open) conn.destroy()
  }

  readonly #accept = (socket: net.Socket): void => {
    // FramedConnection reports the active socket's errors; this covers the time before and after.
    socket.on('error', ignore)
    const peer: PeerInfo = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }
    if (this.#active === null) {
      this.#activate(socket, peer, undefined)
      return
    }
    if (this.#refuse || this.#queue.length >= this.#maxQueue) {
      socket.destroy()
      const reason = this.#refuse ? 'busy with another client' : `waiting queue is full (${this.#maxQueue})`
      this.emit('clientError', new OnelineBusyError(reason), peer)
      return
    }
    // Read while it waits, so that its leaving is seen; what it sends is held up to one line's limit.
    this.#queue.push(new WaitingConnection(socket, peer, this.#maxLineBytes, this.#leaveQueue))
  }

  readonly #leaveQueue = (waiting: WaitingConnection): void => {
    const index = this.#queue.indexOf(waiting)
    if (index !== -1) this.#queue.splice(index, 1)
  }

  /** Serves `socket`; `held` is what it sent while it waited in the queue. */
  #activate(socket: net.Socket, peer: PeerInfo, held: Buffer | undefined): void {
    const decoder = new LineDecoder({ maxLineBytes: this.#maxLineBytes, stripCR: this.#stripCR, trailing: 'discard' })
    const conn = new FramedConnection(socket, {
      decoder,
      idleTimeout: this.#idleTimeout,
      maxWriteBufferBytes: this.#maxWriteBufferBytes,
    })
    const controller = new AbortController()
    this.#open.add(conn)
    void conn.closed.then((err) => {
      this.#open.delete(conn)
      controller.abort(new OnelineClosedError('client went away', err === undefined ? undefined : { cause: err }))
    })
    const session: Session = { conn, peer, signal: controller.signal, busy: false, released: false }
    this.#active = session
    this.emit('connection', peer)
    const frames = conn.frames()
    void this.#serve(session, held === undefined || held.length === 0 ? frames : heldFirst(held, decoder, frames))
  }

  async #serve(session: Session, commands: AsyncIterable<Buffer>): Promise<void> {
    try {
      for await (const raw of commands) {
        // close() between two pipelined commands: the rest stay unanswered.
        if (session.released) break
        session.busy = true
        const outcome = await this.#run(raw, session)
        session.busy = false
        if (outcome === 'shutdown') {
          this.emit('shutdown', session.peer)
          void this.close()
        }
        if (outcome !== 'next' || this.#closing !== undefined) break
      }
    } catch (err) {
      if (!session.released) this.emit('clientError', toOnelineError(err, this.#limits), session.peer)
    }
    this.#release(session)
    this.#active = null
    this.#next()
  }

  /** Sends FIN after what is already written, then frees the socket; the next client need not wait. */
  #release(session: Session): void {
    if (session.released) return
    session.released = true
    const { conn } = session
    // Reading has stopped, so the peer's FIN would never be seen: destroy once ours is out.
    void conn.end().then(
      () => conn.destroy(),
      () => conn.destroy(),
    )
  }

  #next(): void {
    for (let waiting = this.#queue.shift(); waiting !== undefined; waiting = this.#queue.shift()) {
      const held = waiting.take()
      // 'close' comes a tick after destroy, so a dead socket can still be in the queue.
      if (waiting.socket.destroyed) continue
      this.#activate(waiting.socket, waiting.peer, held)
      return
    }
  }

  /** Handles one command: a built-in, or the handler with its lines written. */
  async #run(raw: Buffer, session: Session): Promise<Outcome> {
    const { text, invalid } = decodeCommand(raw)
    if (text === Command.PING) {
      await session.conn.write(PONG_LINE)
      return 'next'
    }
    if (text === Command.DISCONNECT) return 'leave'
    if (text === Command.SHUTDOWN && this.#allowShutdown) return 'shutdown'
    const handler = this.#handler
    if (handler === undefined) return 'next'

    const { conn } = session
    // Lines from ctx.send, each write's failure kept at once so none goes unhandled meanwhile.
    let sent: Promise<void>[] | undefined
    let failure: unknown
    let settled = false
    const ctx: OnelineContext = {
      invalid,
      raw,
      signal: session.signal,
      peer: session.peer,
      send(line) {
        if (settled) throw new OnelineUnpromptedError()
        ;(sent ??= []).push(conn.write(encodeLine(line)).catch((err: unknown) => void (failure ??= err)))
      },
    }
    let replied: Promise<void> | undefined
    try {
      const result = handler(text, ctx)
      // A synchronous handler's reply goes out without waiting a microtask for it.
      const reply = isPromiseLike(result) ? await result : result
      settled = true
      if (typeof reply === 'string') replied = conn.write(encodeLine(reply))
      else if (reply !== undefined && reply.length > 0) replied = conn.write(reply.map(encodeLine))
    } catch (err) {
      settled = true
      this.emit('handlerError', err, ctx)
      // The lines sent before the failure still go out before the FIN.
      return 'leave'
    }
    try {
      await replied
      if (sent !== undefined) await Promise.all(sent)
    } catch (err) {
      failure ??= err
    }
    if (failure !== undefined) throw toOnelineError(failure, this.#limits)
    return 'next'
  }
}
