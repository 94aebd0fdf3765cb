// The TEJ connection, either end: receiving frames in order, sending them whole, pings, deadlines and close.
import { EventEmitter } from 'node:events'
import process from 'node:process'
import type { Duplex } from 'node:stream'
import { DeadlineScheduler, FramedConnection, ErrorCode as ProtoErrorCode, UsageError, guardCall, isProtoError } from '@proto/framing'
import type { CallOptions, Deadline, PeerInfo, Side } from '@proto/framing'
import { PING_STATUS } from './constants.ts'
import { makeContext } from './context.ts'
import { channels } from './diagnostics.ts'
import { TejClosedError, TejError, TejStallTimeoutError, TejTimeoutError, toTejError } from './errors.ts'
import { IncomingFrame } from './incoming.ts'
import type { FrameSource } from './incoming.ts'
import type { ResolvedConnectionOptions } from './limits.ts'
import { planFrame, sizePlan, writeFrame } from './outgoing.ts'
import type { FrameOutput, FramePlan } from './outgoing.ts'
import type {
  TejConnection,
  TejConnectionEvents,
  TejContext,
  TejFrame,
  TejFrameInfo,
  TejHandler,
  TejIncomingFrame,
  TejOutgoingFrame,
} from './types.ts'

/** How a connection is made: its end, its peer, its options, and what its owner hears from it. */
export interface ConnectionInit extends ResolvedConnectionOptions {
  readonly side: Side
  readonly remote: PeerInfo
  /** The handler of the next frame, asked for each frame; `undefined` leaves frames to the iterator. */
  readonly handler: () => TejHandler | undefined
  /** The connection ends because of what the peer sent, or failed to send, or would not take. */
  readonly onReceiveError?: ((err: TejError, conn: TejConnection) => void) | undefined
}

interface Offer {
  readonly frame: IncomingFrame
  readonly release: () => void
}

interface Taker {
  readonly resolve: (frame: IncomingFrame | undefined) => void
  readonly reject: (err: unknown) => void
}

/** One `send()` between its call and its end: whether its deadline or signal ended it, and whether bytes went out. */
interface SendJob {
  readonly plan: FramePlan
  cancelled: { readonly reason: unknown } | undefined
  started: boolean
}

const noop = (): void => undefined

/** A `TejConnection` over any duplex stream; `connect()` and the server make them. */
export class Connection extends EventEmitter<TejConnectionEvents> implements TejConnection {
  readonly remote: PeerInfo
  readonly closed: Promise<void>
  readonly #side: Side
  readonly #framed: FramedConnection
  readonly #output: FrameOutput
  readonly #source: FrameSource
  readonly #handler: () => TejHandler | undefined
  readonly #onReceiveError: ConnectionInit['onReceiveError']
  readonly #timeout: number
  readonly #pingInterval: number
  readonly #context: TejContext
  // Every deadline of this connection, its sends' and its pings', on one timer.
  readonly #deadlines = new DeadlineScheduler()
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
  #pingDeadline: Deadline | undefined
  #pingQueued = false
  #iterated = false
  #consumerGone = false
  #offer: Offer | undefined
  #taker: Taker | undefined
  #current: (() => void) | undefined

  /** The peer's address, as `remote.address`: a connection is also the `PeerInfo` of its peer. */
  get address(): string {
    return this.remote.address
  }

  /** The peer's port, as `remote.port`. */
  get port(): number {
    return this.remote.port
  }

  constructor(stream: Duplex, init: ConnectionInit) {
    super()
    this.remote = init.remote
    this.#side = init.side
    this.#handler = init.handler
    this.#onReceiveError = init.onReceiveError
    this.#timeout = init.timeout
    this.#pingInterval = init.pingInterval
    this.#context = makeContext(this, init.remote)
    const limits = init.limits
    this.#framed = new FramedConnection(stream, {
      idleTimeout: limits.idleTimeout,
      // Names are the only fields read whole; file data and the message stream.
      maxReadBytes: limits.maxNameBytes,
    })
    this.#output = { conn: this.#framed, stallTimeout: limits.stallTimeout }
    this.#source = { reader: this.#framed.reader(), limits, fail: (err) => this.#fail(err) }
    this.closed = this.#framed.closed.then((err) => {
      this.#finish(err)
    })
    this.#schedulePing()
    if (channels.connectionOpen.hasSubscribers) {
      channels.connectionOpen.publish({ side: this.#side, remote: this.remote, connection: this })
    }
    void this.#readLoop()
  }

  /** Aborts when the connection ends. */
  get signal(): AbortSignal {
    return this.#ended.signal
  }

  async send(frame: TejOutgoingFrame, opts?: CallOptions): Promise<void> {
    // Everything up to the queueing runs synchronously, so sends queue in call order.
    if (this.#writeEnded || this.#isClosed) throw this.#closedError()
    const job: SendJob = { plan: planFrame(frame), cancelled: undefined, started: false }
    let cancel: (reason: unknown) => void = noop
    const cancelled = new Promise<never>((_resolve, reject) => {
      cancel = reject
    })
    const guard = guardCall(
      this.#deadlines,
      opts,
      this.#timeout,
      (reason) => {
        job.cancelled = { reason }
        cancel(reason)
        if (job.started) this.#abandon(new TejClosedError('a send was cut short inside its frame', { cause: reason }))
      },
      (timeout) => new TejTimeoutError(`sending a frame with status ${job.plan.status}`, timeout),
    )
    const sized = sizePlan(job.plan)
    sized.catch(noop)
    const run = this.#sendTail.then(() => this.#write(sized, job))
    this.#sendTail = run.catch(noop)
    try {
      await Promise.race([run, cancelled])
    } finally {
      guard.release()
    }
  }

  ping(opts?: CallOptions): Promise<void> {
    return this.send({ status: PING_STATUS }, opts)
  }

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
   * one. Leaving the loop discards later frames. Only without a handler, and once.
   */
  [Symbol.asyncIterator](): AsyncIterator<TejIncomingFrame, void, undefined> {
    if (this.#handler() !== undefined) throw new UsageError('frames go to the handler; this connection cannot be iterated')
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
    let info: TejFrameInfo | undefined
    try {
      for (let frame = await IncomingFrame.read(this.#source); frame !== undefined; frame = await IncomingFrame.read(this.#source)) {
        info = this.#requestStart('received', frame.status, frame.fileCount)
        if (frame.status === PING_STATUS) this.#emitPing(await frame.bufferPing())
        else {
          const failure = await this.#deliver(frame)
          await frame.release()
          if (failure !== undefined) {
            this.#requestError(info, failure.err)
            info = undefined
            continue
          }
        }
        this.#requestEnd(info)
        info = undefined
      }
    } catch (err) {
      const error = this.#fail(err)
      this.#requestError(info, error)
      return
    }
    this.#readDone = true
    this.#endTaker()
    // The peer has finished: finish our side too, as the original closes on EOF.
    void this.close()
  }

  /** Hands a frame over; resolves once it is done with, with the handler's error if it threw one of its own. */
  async #deliver(frame: IncomingFrame): Promise<{ err: unknown } | undefined> {
    if (this.#closing) return undefined
    const handler = this.#handler()
    if (handler !== undefined) {
      try {
        await handler(frame, this.#context)
      } catch (err) {
        // A handler that fails because the frame could not be received rethrows the connection's
        // receive error, which is reported once, as the peer's.
        if (err === this.#error) return undefined
        this.#emitHandlerError(err)
        return { err }
      }
      return undefined
    }
    if (this.#consumerGone) return undefined
    await new Promise<void>((release) => {
      this.#offer = { frame, release }
      this.#serveOffer()
    })
    return undefined
  }

  #emitPing(ping: TejFrame): void {
    try {
      this.emit('ping', ping)
    } catch (err) {
      this.#emitHandlerError(err)
    }
  }

  #emitHandlerError(err: unknown): void {
    emitOrRethrow(() => this.emit('handlerError', err, this.#context))
  }

  /** Arms the next interval ping on the connection's deadline timer, which takes any interval exactly. */
  #schedulePing(): void {
    if (this.#pingInterval === 0) return
    this.#pingDeadline = this.#deadlines.schedule(this.#pingInterval, () => {
      this.#intervalPing()
      this.#schedulePing()
    })
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

  async #write(sized: ReturnType<typeof sizePlan>, job: SendJob): Promise<void> {
    const ready = await sized
    if (job.cancelled !== undefined) throw job.cancelled.reason
    if (this.#isClosed || this.#error !== undefined) throw this.#closedError()
    let info: TejFrameInfo | undefined
    try {
      await writeFrame(this.#output, ready, this.#ended.signal, () => {
        job.started = true
        info = this.#requestStart('sent', ready.plan.status, ready.plan.files.length)
      })
    } catch (err) {
      const cancelled = cancellation(job)
      if (cancelled !== undefined) {
        this.#requestError(info, cancelled.reason)
        throw cancelled.reason
      }
      // The source's own failure (a size mismatch, a read error) is the send's error, unless
      // the connection had already failed for another reason.
      const failure =
        this.#error === undefined && !(isProtoError(err) && err.code === ProtoErrorCode.CLOSED) ? err : this.#closedError(err)
      if (job.started) this.#abandon(failure)
      if (failure instanceof TejStallTimeoutError) this.#reportPeer(failure)
      this.#requestError(info, failure)
      throw failure
    }
    this.#requestEnd(info)
  }

  async #closeGracefully(): Promise<void> {
    this.#closing = true
    this.#pingDeadline?.cancel()
    this.#endTaker()
    this.#discardOffer()
    // Sends queued while we wait are still written.
    for (let tail = this.#sendTail; ; tail = this.#sendTail) {
      await tail
      if (tail === this.#sendTail) break
    }
    this.#writeEnded = true
    // The last writes of a send may sit below the high-water mark; a peer that takes none of them
    // would hold the flush forever.
    const stallTimeout = this.#output.stallTimeout
    const stalled =
      stallTimeout === Number.POSITIVE_INFINITY
        ? undefined
        : this.#deadlines.schedule(stallTimeout, () => {
            const err = new TejStallTimeoutError(stallTimeout)
            this.#destroy(err)
            this.#reportPeer(err)
          })
    await this.#framed.end().catch(noop)
    stalled?.cancel()
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
    emitOrRethrow(() => this.#onReceiveError?.(error, this))
    return error
  }

  /** Tells the owner that the peer ended the connection with `err`, unless something else ended it first. */
  #reportPeer(err: TejError): void {
    if (this.#error === err) emitOrRethrow(() => this.#onReceiveError?.(err, this))
  }

  /**
   * Ends the connection after a frame was cut short. FIN follows what was written, so the peer
   * sees the frame truncated rather than never started; but a peer that has stopped reading would
   * never let that flush finish, so the connection is destroyed one turn later in any case, once
   * the writes of this turn have reached the operating system, which still sends them.
   */
  #abandon(err: unknown): void {
    this.#error ??= asTejError(err)
    const destroy = (): void => {
      this.#framed.destroy(this.#error)
    }
    void this.#framed.end().catch(noop).then(destroy)
    setImmediate(destroy)
  }

  /** Ends the connection for a local reason. */
  #destroy(err: unknown): void {
    this.#error ??= asTejError(err)
    this.#framed.destroy(this.#error)
  }

  #finish(err: unknown): void {
    this.#isClosed = true
    this.#error ??= err === undefined ? undefined : asTejError(toTejError(err))
    this.#deadlines.clear()
    this.#ended.abort(this.#error ?? new TejClosedError())
    this.#endTaker()
    this.#discardOffer()
    if (channels.connectionClose.hasSubscribers) {
      const message = { side: this.#side, remote: this.remote, connection: this }
      channels.connectionClose.publish(this.#error === undefined ? message : { ...message, error: this.#error })
    }
    emitOrRethrow(() => this.emit('close', this.#error))
  }

  /** Publishes `request:start` for a frame; the description it returns pairs the end with it, `undefined` when nobody listens. */
  #requestStart(direction: TejFrameInfo['direction'], status: number, fileCount: number): TejFrameInfo | undefined {
    if (!(channels.requestStart.hasSubscribers || channels.requestEnd.hasSubscribers || channels.requestError.hasSubscribers)) {
      return undefined
    }
    const request: TejFrameInfo = { direction, status, fileCount }
    if (channels.requestStart.hasSubscribers) {
      channels.requestStart.publish({ side: this.#side, remote: this.remote, connection: this, request })
    }
    return request
  }

  #requestEnd(request: TejFrameInfo | undefined): void {
    if (request === undefined || !channels.requestEnd.hasSubscribers) return
    channels.requestEnd.publish({ side: this.#side, remote: this.remote, connection: this, request })
  }

  #requestError(request: TejFrameInfo | undefined, error: unknown): void {
    if (request === undefined || !channels.requestError.hasSubscribers) return
    channels.requestError.publish({ side: this.#side, remote: this.remote, connection: this, request, error })
  }
}

/** Whether a deadline or signal has ended `job`, read afresh: it is set from a callback. */
function cancellation(job: SendJob): SendJob['cancelled'] {
  return job.cancelled
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
