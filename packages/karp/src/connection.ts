// One end of a KARP connection over any duplex stream: requests out and handlers in, both at once.
import type { Buffer } from 'node:buffer'
import { EventEmitter } from 'node:events'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { DeadlineScheduler, ErrorCode as ProtoCode, FramedConnection, LineDecoder, guardCall, toText } from '@proto/framing'
import type { CallGuard, CallOptions, PeerInfo, ProtoError, Side } from '@proto/framing'
import { decodeFrame, normalizeRoute, requestFrame, responseFrame } from './codec.ts'
import { Context, Request } from './context.ts'
import { channels } from './diagnostics.ts'
import type { KarpRequestInfo } from './diagnostics.ts'
import {
  ErrorCode,
  KarpBadHandlerResultError,
  KarpClosedError,
  KarpDataError,
  KarpIdleTimeoutError,
  KarpTimeoutError,
  KarpTooManyInFlightError,
  KarpUnknownRouteError,
  RemoteError,
  failureText,
  toKarpError,
} from './errors.ts'
import type { KarpError, KarpFrameTooLargeError } from './errors.ts'
import type { KarpPayload, KarpRequestFrame, KarpResponseFrame } from './frame.ts'
import { addHandler } from './handlers.ts'
import { generateId } from './id.ts'
import type { ConnectionLimits } from './limits.ts'
import type { ConnectionConfig } from './options.ts'
import type { KarpConnection, KarpConnectionEvents, KarpHandler, KarpReply } from './types.ts'

/** What a connection is made with, besides its stream. */
export interface ConnectionInit {
  /** Which end this is: `connect()`'s or a server's. */
  readonly side: Side
  /** The peer, as the server admitted it (a PROXY header's client) or as the socket says. */
  readonly remote: PeerInfo
  readonly config: ConnectionConfig
  /** This connection's own handlers. */
  readonly handlers: Map<string, KarpHandler>
  /** Looked up after the connection's own: a server's handlers, shared by its connections. */
  readonly fallback?: ReadonlyMap<string, KarpHandler> | undefined
}

const CR = 0x0d

/** A request awaiting its reply. */
class Pending {
  readonly resolve: (reply: KarpReply) => void
  readonly reject: (err: unknown) => void
  readonly guard: CallGuard
  /** Its diagnostics description, made only when someone subscribes. */
  readonly info: KarpRequestInfo | undefined

  constructor(resolve: (reply: KarpReply) => void, reject: (err: unknown) => void, guard: CallGuard, info: KarpRequestInfo | undefined) {
    this.resolve = resolve
    this.reject = reject
    this.guard = guard
    this.info = info
  }
}

class Reply implements KarpReply {
  readonly id: string
  readonly data: Uint8Array

  constructor(id: string, data: Uint8Array) {
    this.id = id
    this.data = data
  }

  text(): string {
    return toText(this.data)
  }
}

/** One end of a connection; `connect()` and servers make them. */
export class Connection extends EventEmitter<KarpConnectionEvents> implements KarpConnection {
  readonly remote: PeerInfo
  readonly closed: Promise<void>
  readonly #side: Side
  readonly #conn: FramedConnection
  readonly #lines: LineDecoder
  readonly #config: ConnectionConfig
  readonly #limits: ConnectionLimits
  readonly #handlers: Map<string, KarpHandler>
  readonly #fallback: ReadonlyMap<string, KarpHandler> | undefined
  /** The deadlines of every call and the idle clock, on one timer. */
  readonly #deadlines = new DeadlineScheduler()
  readonly #pending = new Map<string, Pending>()
  /** Running handlers, with their diagnostics description when someone subscribes. */
  readonly #running = new Map<Context, KarpRequestInfo | undefined>()
  readonly #resolveClosed: () => void
  #state: 'open' | 'closing' | 'closed' = 'open'
  #ending = false
  #failure: KarpError | undefined
  // The idle clock runs from the later of the last byte received and the last moment something
  // was in flight; a deadline that finds it moved on waits for the rest rather than firing.
  #lastInput = 0
  #quietSince = 0
  #idleArmed = false

  // One function for every reply rather than a closure each.
  readonly #onReplyWriteError = (err: unknown): void => {
    // A closed connection needs no report; a full buffer means the peer sends without reading.
    if (!isCode(err, ProtoCode.WRITE_BUFFER_FULL) || this.#failure !== undefined || this.#state === 'closed') return
    this.#fail(new KarpClosedError('the peer does not read its replies (maxWriteBufferBytes)', { cause: err }))
  }

  readonly #onIdle = (): void => {
    this.#idleArmed = false
    if (this.#state !== 'open' || this.#pending.size > 0 || this.#running.size > 0) return
    const idleTimeout = this.#limits.idleTimeout
    if (performance.now() < Math.max(this.#lastInput, this.#quietSince) + idleTimeout) {
      this.#armIdle()
      return
    }
    this.#fail(new KarpIdleTimeoutError(idleTimeout))
  }

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
    this.#side = init.side
    this.remote = init.remote
    this.#config = init.config
    this.#limits = init.config.limits
    this.#handlers = init.handlers
    this.#fallback = init.fallback
    if (stream instanceof net.Socket) {
      // Pipelined requests and replies are already batched per tick; Nagle would only delay them.
      stream.setNoDelay(true)
      if (init.config.keepAlive !== false) stream.setKeepAlive(true, init.config.keepAlive)
    }
    let resolveClosed = (): void => {}
    this.closed = new Promise<void>((resolve) => {
      resolveClosed = resolve
    })
    this.#resolveClosed = resolveClosed
    this.#conn = new FramedConnection(stream, { maxWriteBufferBytes: this.#limits.maxWriteBufferBytes })
    this.#lines = new LineDecoder({ maxLineBytes: this.#limits.maxFrameBytes - 1, trailing: 'emit' })
    void this.#conn.closed.then((ended) => this.#finish(ended))
    if (this.#limits.idleTimeout > 0) {
      this.#lastInput = this.#quietSince = performance.now()
      this.#armIdle()
    }
    if (channels.connectionOpen.hasSubscribers) channels.connectionOpen.publish({ side: this.#side, remote: this.remote, connection: this })
    void this.#read()
  }

  handle(route: string, handler: KarpHandler): this {
    addHandler(this.#handlers, route, handler)
    return this
  }

  request(route: string, data: KarpPayload = '', opts?: CallOptions): Promise<KarpReply> {
    // A throw in the executor rejects the promise, so checks and setup need no async wrapper.
    return new Promise<KarpReply>((resolve, reject) => {
      this.#checkOpen()
      let id = ''
      let name = route
      // Armed before the checks of the call itself, so that an aborted signal wins over them; a
      // connection that is closing refuses first.
      const guard = guardCall(
        this.#deadlines,
        opts,
        this.#config.timeout,
        (err) => this.#reject(id, err),
        (timeout) => new KarpTimeoutError(`request '${name}'`, timeout),
      )
      let frame: Buffer
      try {
        if (this.#pending.size >= this.#limits.maxInFlight) throw new KarpTooManyInFlightError(this.#limits.maxInFlight)
        name = normalizeRoute(route)
        id = generateId(this.#pending)
        frame = requestFrame(name, id, data, true, this.#limits.maxFrameBytes)
      } catch (err) {
        guard.release()
        throw err
      }
      const info = describes() ? outgoing(name, id, true) : undefined
      this.#pending.set(id, new Pending(resolve, reject, guard, info))
      if (info !== undefined) this.#publishStart(info)
      this.#conn.write(frame).catch((err: unknown) => this.#reject(id, toKarpError(err)))
    })
  }

  notify(route: string, data: KarpPayload = '', opts?: CallOptions): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#checkOpen()
      let name = route
      let info: KarpRequestInfo | undefined
      let settled = false
      const fail = (err: unknown): void => {
        if (settled) return
        settled = true
        guard.release()
        this.#publishError(info, err)
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort reason is any value
        reject(err)
      }
      const guard = guardCall(this.#deadlines, opts, this.#config.timeout, fail, (timeout) => new KarpTimeoutError(`notify '${name}'`, timeout))
      let frame: Buffer
      try {
        name = normalizeRoute(route)
        const id = generateId(this.#pending)
        frame = requestFrame(name, id, data, false, this.#limits.maxFrameBytes)
        if (describes()) info = outgoing(name, id, false)
      } catch (err) {
        guard.release()
        throw err
      }
      if (info !== undefined) this.#publishStart(info)
      this.#conn.write(frame).then(
        () => {
          if (settled) return
          settled = true
          guard.release()
          this.#publishEnd(info)
          resolve()
        },
        (err: unknown) => fail(toKarpError(err)),
      )
    })
  }

  async close(opts?: { signal?: AbortSignal | undefined }): Promise<void> {
    if (this.#state === 'closed') return
    const signal = opts?.signal
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#destroy(signal.reason)
      } else {
        const onAbort = (): void => this.#destroy(signal.reason)
        signal.addEventListener('abort', onAbort, { once: true })
        void this.closed.then(() => signal.removeEventListener('abort', onAbort))
      }
    }
    if (this.#state === 'open') this.#state = 'closing'
    this.#settled()
    await this.closed
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  #checkOpen(): void {
    if (this.#state !== 'open') {
      throw new KarpClosedError(this.#state === 'closing' ? 'the connection is closing' : 'connection closed')
    }
  }

  #take(id: string): Pending | undefined {
    const entry = this.#pending.get(id)
    if (entry === undefined) return undefined
    this.#pending.delete(id)
    entry.guard.release()
    return entry
  }

  #resolve(id: string, reply: KarpReply): void {
    const entry = this.#take(id)
    if (entry === undefined) return
    entry.resolve(reply)
    this.#publishEnd(entry.info)
    this.#settled()
  }

  #reject(id: string, err: unknown): void {
    const entry = this.#take(id)
    if (entry === undefined) return
    entry.reject(err)
    this.#publishError(entry.info, err)
    this.#settled()
  }

  async #read(): Promise<void> {
    const lines = this.#lines
    const idle = this.#limits.idleTimeout > 0
    try {
      // Chunks rather than lines from the connection: the idle clock needs every byte, and the
      // lines of a chunk are handled in one turn.
      for await (const chunk of this.#conn.frames()) {
        if (idle) this.#lastInput = performance.now()
        for (const line of lines.push(chunk)) this.#onLine(line)
        // A fault comes after the lines before it.
        if (lines.error !== undefined) throw lines.error
      }
      for (const line of lines.end()) this.#onLine(line)
    } catch (err) {
      this.#onReadError(err)
      return
    }
    this.#onPeerEnd()
  }

  #onLine(line: Buffer): void {
    // The original skips blank lines, and a CRLF sender leaves a lone CR behind.
    if (line.length === 0 || (line.length === 1 && line[0] === CR) || this.#failure !== undefined || this.#state === 'closed') return
    let frame
    try {
      frame = decodeFrame(line)
    } catch (err) {
      this.#onBadFrame(err as KarpError)
      return
    }
    if (frame.type === 'request') this.#onRequest(frame)
    else this.#onResponse(frame)
  }

  #onBadFrame(err: KarpError): void {
    if (err instanceof KarpDataError) {
      const header = err.header
      if (header.type === 'response') this.#reject(header.id, err)
      else if (header.wantsReply) this.#reply(header.id, false, failureText(err))
    }
    this.emit('protocolError', err)
  }

  #onResponse(frame: KarpResponseFrame): void {
    // A reply to an unknown id is dropped without a word: it is what arrives after a local timeout.
    if (frame.success) this.#resolve(frame.id, new Reply(frame.id, frame.data))
    else this.#reject(frame.id, new RemoteError(frame.id, frame.data))
  }

  #onRequest(frame: KarpRequestFrame): void {
    const info = describes() ? incoming(frame) : undefined
    if (info !== undefined) this.#publishStart(info)
    if (this.#state !== 'open') {
      if (frame.wantsReply) this.#reply(frame.id, false, 'closing')
      this.#publishError(info, new KarpClosedError('the connection is closing'))
      return
    }
    const handler = this.#handlers.get(frame.route) ?? this.#fallback?.get(frame.route)
    if (handler === undefined) {
      if (frame.wantsReply) this.#reply(frame.id, false, quoteRoute(frame.route))
      this.#publishError(info, new KarpUnknownRouteError(frame.route))
      return
    }
    if (this.#running.size >= this.#limits.maxInFlight) {
      const err = new KarpTooManyInFlightError(this.#limits.maxInFlight)
      if (frame.wantsReply) this.#reply(frame.id, false, failureText(err))
      else this.emit('protocolError', err)
      this.#publishError(info, err)
      return
    }
    const ctx = new Context(new Request(frame), this)
    this.#running.set(ctx, info)
    let result
    try {
      result = handler(ctx.request, ctx)
    } catch (err) {
      this.#handlerFailed(ctx, err)
      return
    }
    if (isPromiseLike(result)) {
      Promise.resolve(result).then(
        (value) => this.#handlerDone(ctx, value),
        (err: unknown) => this.#handlerFailed(ctx, err),
      )
    } else {
      this.#handlerDone(ctx, result)
    }
  }

  #handlerDone(ctx: Context, value: unknown): void {
    const info = this.#running.get(ctx)
    this.#running.delete(ctx)
    const { id, route, wantsReply } = ctx.request
    let problem: KarpError | undefined
    if (value === undefined || value === null) {
      if (wantsReply) problem = this.#reply(id, true, '')
    } else if (typeof value === 'string' || value instanceof Uint8Array) {
      if (wantsReply) problem = this.#reply(id, true, value)
    } else {
      problem = new KarpBadHandlerResultError(route, typeof value)
      if (wantsReply) this.#reply(id, false, failureText(problem))
    }
    this.#settled()
    if (problem === undefined) {
      this.#publishEnd(info)
    } else {
      this.#publishError(info, problem)
      this.emit('handlerError', problem, ctx)
    }
  }

  #handlerFailed(ctx: Context, err: unknown): void {
    const info = this.#running.get(ctx)
    this.#running.delete(ctx)
    if (ctx.request.wantsReply) this.#reply(ctx.request.id, false, this.#failureMessage(err))
    this.#settled()
    this.#publishError(info, err)
    this.emit('handlerError', err, ctx)
  }

  /**
   * What a failure reply says about a handler's error: its message only when the error is
   * marked public (`expose: true`, the http-errors convention), else `internal error`, so that
   * paths and internals stay home; with `exposeErrors`, the stack, for development.
   */
  #failureMessage(err: unknown): string {
    if (this.#config.exposeErrors) return err instanceof Error ? (err.stack ?? err.message) : thrownText(err)
    if (typeof err === 'object' && err !== null) {
      const { expose, message } = err as { expose?: unknown; message?: unknown }
      if (expose === true && typeof message === 'string') return message
    }
    return 'internal error'
  }

  /** Queues a response; returns the error when the data had to be replaced for being too large. */
  #reply(id: string, success: boolean, data: KarpPayload): KarpFrameTooLargeError | undefined {
    if (this.#state === 'closed') return undefined
    let frame: Buffer
    let problem: KarpFrameTooLargeError | undefined
    try {
      frame = responseFrame(id, success, data, this.#limits.maxFrameBytes)
    } catch (err) {
      problem = err as KarpFrameTooLargeError
      frame = responseFrame(id, false, failureText(problem), Number.MAX_SAFE_INTEGER)
    }
    this.#conn.write(frame).catch(this.#onReplyWriteError)
    return problem
  }

  #onReadError(err: unknown): void {
    if (this.#state === 'closed') return
    const mapped = toKarpError(err)
    if (isCode(mapped, ErrorCode.FRAME_TOO_LARGE)) this.#fail(mapped as KarpError)
    else this.#conn.destroy(err instanceof Error ? err : undefined)
  }

  /** Reports a fault that ends the connection, and ends it; the first fault only. */
  #fail(failure: KarpError): void {
    if (this.#failure !== undefined) return
    this.#failure = failure
    // Ended before it is reported, so that a listener that throws cannot leave it open.
    this.#conn.destroy(failure)
    this.emit('protocolError', failure)
  }

  #onPeerEnd(): void {
    if (this.#state === 'closed') return
    if (this.#state === 'open') this.#state = 'closing'
    // Nothing can answer our requests once the peer has ended its side.
    const err = new KarpClosedError('the peer ended the connection')
    for (const id of [...this.#pending.keys()]) this.#reject(id, err)
    this.#settled()
  }

  /** Called whenever a call or a handler is done: ends a closing connection once nothing is in flight, else restarts the idle clock. */
  #settled(): void {
    if (this.#pending.size > 0 || this.#running.size > 0) return
    if (this.#state === 'closing') {
      if (this.#ending) return
      this.#ending = true
      // A failed end shows up in `closed`.
      this.#conn.end().catch(() => {})
    } else if (this.#state === 'open' && this.#limits.idleTimeout > 0) {
      this.#quietSince = performance.now()
      this.#armIdle()
    }
  }

  #armIdle(): void {
    if (this.#idleArmed) return
    this.#idleArmed = true
    const due = Math.max(this.#lastInput, this.#quietSince) + this.#limits.idleTimeout
    this.#deadlines.schedule(Math.max(0, Math.ceil(due - performance.now())), this.#onIdle)
  }

  #destroy(reason: unknown): void {
    if (this.#state === 'closed') return
    const failure = new KarpClosedError('close was aborted', { cause: reason })
    this.#failure ??= failure
    this.#conn.destroy(failure)
  }

  #finish(ended: ProtoError | undefined): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#deadlines.clear()
    const failure = this.#failure ?? (ended === undefined ? undefined : (toKarpError(ended) as KarpError))
    const rejection =
      failure === undefined
        ? new KarpClosedError()
        : failure.code === ErrorCode.CLOSED
          ? failure
          : new KarpClosedError(`connection closed: ${failure.message}`, { cause: failure })
    for (const id of [...this.#pending.keys()]) this.#reject(id, rejection)
    for (const ctx of this.#running.keys()) Context.abort(ctx, rejection)
    // Before the listeners, so that one that throws cannot keep `closed`, and a server's close(),
    // waiting for ever.
    this.#resolveClosed()
    if (channels.connectionClose.hasSubscribers) {
      const message = { side: this.#side, remote: this.remote, connection: this as KarpConnection }
      channels.connectionClose.publish(failure === undefined ? message : { ...message, error: failure })
    }
    if (failure === undefined) this.emit('close')
    else this.emit('close', failure)
  }

  #publishStart(info: KarpRequestInfo): void {
    if (channels.requestStart.hasSubscribers) {
      channels.requestStart.publish({ side: this.#side, remote: this.remote, connection: this, request: info })
    }
  }

  #publishEnd(info: KarpRequestInfo | undefined): void {
    if (info !== undefined && channels.requestEnd.hasSubscribers) {
      channels.requestEnd.publish({ side: this.#side, remote: this.remote, connection: this, request: info })
    }
  }

  #publishError(info: KarpRequestInfo | undefined, error: unknown): void {
    if (info !== undefined && channels.requestError.hasSubscribers) {
      channels.requestError.publish({ side: this.#side, remote: this.remote, connection: this, request: info, error })
    }
  }
}

/** Whether a request needs its diagnostics description: someone listens to one of its channels. */
function describes(): boolean {
  return channels.requestStart.hasSubscribers || channels.requestEnd.hasSubscribers || channels.requestError.hasSubscribers
}

function outgoing(route: string, id: string, wantsReply: boolean): KarpRequestInfo {
  return { direction: 'outgoing', route, id, wantsReply }
}

function incoming(frame: KarpRequestFrame): KarpRequestInfo {
  return { direction: 'incoming', route: frame.route, id: frame.id, wantsReply: frame.wantsReply }
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

/** The original answers an unknown route with `str(KeyError(route))`: the route's Python repr. */
function quoteRoute(route: string): string {
  return `'${route.replaceAll('\\', '\\\\')}'`
}

/** `String(err)` of any thrown value, even one that cannot be converted. */
function thrownText(err: unknown): string {
  try {
    return String(err)
  } catch {
    // An object without a prototype has no toString.
    return Object.prototype.toString.call(err)
  }
}
