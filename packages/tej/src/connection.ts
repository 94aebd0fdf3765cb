import { EventEmitter } from 'node:events'
import { Socket } from 'node:net'
import process from 'node:process'
import type { Duplex } from 'node:stream'
import { ErrorCode as ProtoErrorCode, FramedConnection, UsageError, callSignal, isProtoError, type CallOptions } from '@proto/framing'
import type { TejFrame } from './codec.ts'
import { PING_STATUS } from './constants.ts'
import { TejClosedError, TejError, toTejError } from './errors.ts'
import { IncomingFrame, type FrameSource, type TejIncomingFrame } from './incoming.ts'
import type { ResolvedOptions, TejOptions } from './options.ts'
import { planFrame, sizePlan, writeFrame, type TejOutgoingFrame } from './outgoing.ts'
import { raceAbort } from './race-abort.ts'

/** Events of a `TejConnection`. */
export interface TejConnectionEvents {
  /** A frame with status 2, buffered whole. No pong is sent. */
  ping: [ping: TejFrame]
  /** `onFrame` threw (or a `ping` listener did); the rest of that frame was discarded. */
  handlerError: [err: unknown, conn: TejConnection]
  /** The connection ended, with what ended it if that was an error. */
  close: [err?: TejError]
}

/** What a server needs to hear from its connections. */
export interface ConnectionHooks {
  /** The connection ends because of what the peer sent, or failed to send. */
  onReceiveError?: ((err: TejError, conn: TejConnection) => void) | undefined
  /** Refuse the connection at once with this error. */
  refuse?: TejError | undefined
}

interface Offer {
  readonly frame: IncomingFrame
  readonly release: () => void
}

interface Taker {
  readonly resolve: (frame: IncomingFrame | undefined) => void
  readonly reject: (err: unknown) => void
}

const noop = (): void => undefined

/**
 * One TEJ connection, either end: frames go both ways at any time. Received frames go to
 * `onFrame`, or to `for await (const frame of conn)`; sends are queued and written whole, one
 * after another.
 */
export class TejConnection extends EventEmitter<TejConnectionEvents> implements AsyncIterable<TejIncomingFrame>, AsyncDisposable {
  /** The peer's address; empty over a stream that is not a socket. */
  readonly remote: { readonly address: string; readonly port: number }
  /** Resolves, never rejects, when the connection has ended. */
  readonly closed: Promise<void>
  readonly #framed: FramedConnection
  readonly #source: FrameSource
  readonly #onFrame: TejOptions['onFrame']
  readonly #hooks: ConnectionHooks
  readonly #ended = new AbortController()
  #error: TejError | undefined
  #isClosed = false
  // close() was called: frames not yet delivered are discarded.
  #closing = false
  // FIN is on its way: sends are refused.
  #writeEnded = false
  #readDone = false
  #sendTail: Promise<unknown> = Promise.resolve()
  #shutdown: Promise<void> | undefined
  #pingTimer: ReturnType<typeof setInterval> | undefined
  #pingQueued = false
  #iterated = false
  #consumerGone = false
  #offer: Offer | undefined
  #taker: Taker | undefined
  #current: (() => void) | undefined

  constructor(stream: Duplex, options: ResolvedOptions & Pick<TejOptions, 'onFrame'>, hooks: ConnectionHooks = {}) {
    super()
    this.remote =
      stream instanceof Socket
        ? { address: stream.remoteAddress ?? '', port: stream.remotePort ?? 0 }
        : { address: '', port: 0 }
    this.#onFrame = options.onFrame
    this.#hooks = hooks
    this.#framed = new FramedConnection(stream, {
      idleTimeout: options.idleTimeout,
      // Names and the message are the only fields read whole; file data streams.
      maxReadBytes: Math.max(options.maxNameBytes, options.maxMessageBytes),
    })
    this.#source = { reader: this.#framed.reader(), limits: options, fail: (err) => this.#fail(err) }
    this.closed = this.#framed.closed.then((err) => {
      this.#finish(err)
    })
    if (hooks.refuse !== undefined) {
      this.#destroy(hooks.refuse)
      return
    }
    if (options.pingInterval > 0) {
      this.#pingTimer = setInterval(() => {
        this.#intervalPing()
      }, options.pingInterval)
      this.#pingTimer.unref()
    }
    void this.#readLoop()
  }

  /** Aborts when the connection ends. */
  get signal(): AbortSignal {
    return this.#ended.signal
  }

  /**
   * Queues a frame; resolves once it is fully written. An abort or timeout before its first
   * byte only takes it off the queue; after that the connection is destroyed, since a
   * half-written frame cannot be completed.
   * @throws {TejInvalidStatusError} for a status outside 0..127
   * @throws {UsageError} for a bad name, size or path, before anything is queued
   * @throws {TejFileSizeMismatchError} when a source yields fewer or more bytes than its size
   * @throws {TejClosedError} when the connection has ended or is closing
   */
  async send(frame: TejOutgoingFrame, opts?: CallOptions): Promise<void> {
    // Everything up to the queueing runs synchronously, so sends queue in call order.
    const signal = callSignal(opts)
    signal?.throwIfAborted()
    if (this.#writeEnded || this.#isClosed) throw this.#closedError()
    const sized = sizePlan(planFrame(frame))
    sized.catch(noop)
    const run = this.#sendTail.then(() => this.#write(sized, signal))
    this.#sendTail = run.catch(noop)
    await (signal === undefined ? run : raceAbort(run, signal))
  }

  /** Sends the 18-byte empty ping (status 2). */
  ping(opts?: CallOptions): Promise<void> {
    return this.send({ status: PING_STATUS }, opts)
  }

  /**
   * Stops delivering new frames, lets queued sends finish, then sends FIN. Resolves once FIN is
   * flushed; `closed` settles when the peer has finished too. Aborting `signal` before then
   * destroys the connection.
   */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void> {
    const signal = opts?.signal
    if (signal !== undefined && !this.#isClosed) {
      const onAbort = (): void => {
        this.#destroy(new TejClosedError('close aborted', { cause: signal.reason }))
      }
      if (signal.aborted) onAbort()
      else {
        signal.addEventListener('abort', onAbort, { once: true })
        void this.closed.then(() => {
          signal.removeEventListener('abort', onAbort)
        })
      }
    }
    this.#shutdown ??= this.#closeGracefully()
    return this.#shutdown
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /**
   * The received frames, one at a time: moving on discards what was not read of the previous
   * one. Leaving the loop discards later frames. Only without `onFrame`, and once.
   */
  [Symbol.asyncIterator](): AsyncIterator<TejIncomingFrame, void, undefined> {
    if (this.#onFrame !== undefined) throw new UsageError('frames go to onFrame; this connection cannot be iterated')
    if (this.#iterated) throw new UsageError('a connection can be iterated once')
    this.#iterated = true
    return this.#frames()
  }

  async *#frames(): AsyncGenerator<TejIncomingFrame, void, undefined> {
    try {
      for (let frame = await this.#take(); frame !== undefined; frame = await this.#take()) {
        yield frame
        this.#releaseCurrent()
      }
    } finally {
      this.#consumerGone = true
      this.#releaseCurrent()
      this.#discardOffer()
    }
  }

  #take(): Promise<IncomingFrame | undefined> {
    if (this.#isClosed && this.#error !== undefined) return Promise.reject(this.#closedError())
    if (this.#isClosed || this.#readDone || this.#closing) return Promise.resolve(undefined)
    return new Promise((resolve, reject) => {
      this.#taker = { resolve, reject }
      this.#serveOffer()
    })
  }

  #serveOffer(): void {
    const offer = this.#offer
    const taker = this.#taker
    if (offer === undefined || taker === undefined) return
    this.#offer = undefined
    this.#taker = undefined
    this.#current = offer.release
    taker.resolve(offer.frame)
  }

  #releaseCurrent(): void {
    const release = this.#current
    this.#current = undefined
    release?.()
  }

  #discardOffer(): void {
    const offer = this.#offer
    this.#offer = undefined
    offer?.release()
  }

  /** Ends a waiting `next()`: with an error if the connection failed, else as done. */
  #endTaker(): void {
    const taker = this.#taker
    this.#taker = undefined
    if (taker === undefined) return
    if (this.#error !== undefined) taker.reject(this.#closedError())
    else taker.resolve(undefined)
  }

  async #readLoop(): Promise<void> {
    try {
      for (let frame = await IncomingFrame.read(this.#source); frame !== undefined; frame = await IncomingFrame.read(this.#source)) {
        if (frame.status === PING_STATUS) this.#emitPing(await frame.bufferPing())
        else {
          await this.#deliver(frame)
          await frame.release()
        }
      }
    } catch (err) {
      this.#fail(err)
      return
    }
    this.#readDone = true
    this.#endTaker()
    // The peer has finished: finish our side too, as the original closes on EOF.
    void this.close()
  }

  async #deliver(frame: IncomingFrame): Promise<void> {
    if (this.#closing) return
    const onFrame = this.#onFrame
    if (onFrame !== undefined) {
      try {
        await onFrame(frame, this)
      } catch (err) {
        this.#emitHandlerError(err)
      }
      return
    }
    if (this.#consumerGone) return
    await new Promise<void>((release) => {
      this.#offer = { frame, release }
      this.#serveOffer()
    })
  }

  #emitPing(ping: TejFrame): void {
    try {
      this.emit('ping', ping)
    } catch (err) {
      this.#emitHandlerError(err)
    }
  }

  #emitHandlerError(err: unknown): void {
    emitOrRethrow(() => this.emit('handlerError', err, this))
  }

  #intervalPing(): void {
    if (this.#pingQueued || this.#writeEnded || this.#isClosed) return
    this.#pingQueued = true
    void this.ping()
      .catch(noop)
      .then(() => {
        this.#pingQueued = false
      })
  }

  async #write(sized: ReturnType<typeof sizePlan>, signal: AbortSignal | undefined): Promise<void> {
    const ready = await sized
    signal?.throwIfAborted()
    if (this.#isClosed || this.#error !== undefined) throw this.#closedError()
    let started = false
    const onAbort = (): void => {
      this.#abandon(new TejClosedError('a send was aborted inside its frame', { cause: signal?.reason }))
    }
    try {
      await writeFrame(this.#framed, ready, this.#ended.signal, () => {
        started = true
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    } catch (err) {
      if (started && signal?.aborted === true) throw signal.reason
      // The source's own failure (a size mismatch, a read error) is the send's error, unless
      // the connection had already failed for another reason.
      const failure =
        this.#error === undefined && !(isProtoError(err) && err.code === ProtoErrorCode.CLOSED) ? err : this.#closedError(err)
      if (started) this.#abandon(failure)
      throw failure
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  async #closeGracefully(): Promise<void> {
    this.#closing = true
    clearInterval(this.#pingTimer)
    this.#endTaker()
    this.#discardOffer()
    // Sends queued while we wait are still written.
    for (let tail = this.#sendTail; ; tail = this.#sendTail) {
      await tail
      if (tail === this.#sendTail) break
    }
    this.#writeEnded = true
    await this.#framed.end().catch(noop)
  }

  #closedError(cause?: unknown): TejClosedError {
    const reason = this.#error ?? (isProtoError(cause) ? (cause.cause ?? cause) : cause)
    return new TejClosedError(this.#isClosed ? 'connection closed' : 'connection closing', { cause: reason })
  }

  /** Ends the connection for something received (or not); returns what the consumer gets. */
  #fail(err: unknown): TejError {
    if (this.#error !== undefined) return this.#error
    const error = asTejError(toTejError(err))
    this.#error = error
    this.#framed.destroy(error)
    emitOrRethrow(() => this.#hooks.onReceiveError?.(error, this))
    return error
  }

  /**
   * Ends the connection after a frame was cut short. What it got so far is flushed before FIN,
   * so the peer sees the frame truncated rather than never started.
   */
  #abandon(err: unknown): void {
    this.#error ??= asTejError(err)
    void this.#framed
      .end()
      .catch(noop)
      .then(() => {
        this.#framed.destroy(this.#error)
      })
  }

  /** Ends the connection for a local reason. */
  #destroy(err: unknown): void {
    this.#error ??= asTejError(err)
    this.#framed.destroy(this.#error)
  }

  #finish(err: unknown): void {
    this.#isClosed = true
    this.#error ??= err === undefined ? undefined : asTejError(toTejError(err))
    clearInterval(this.#pingTimer)
    this.#ended.abort(this.#error ?? new TejClosedError())
    this.#endTaker()
    this.#discardOffer()
    emitOrRethrow(() => this.emit('close', this.#error))
  }
}

function asTejError(err: unknown): TejError {
  return err instanceof TejError ? err : new TejClosedError('connection failed', { cause: err })
}

/** Emits; a listener that throws is rethrown outside, as it would be from an I/O callback. */
function emitOrRethrow(emit: () => void): void {
  try {
    emit()
  } catch (err) {
    process.nextTick(() => {
      throw err
    })
  }
}
