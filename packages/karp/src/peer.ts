import { Buffer } from 'node:buffer'
import { EventEmitter } from 'node:events'
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { ErrorCode as ProtoCode, FramedConnection, LineDecoder, UsageError, checkLimit } from '@proto/framing'
import type { CallOptions, FrameTooLargeError, ProtoError } from '@proto/framing'
import { decodeFrame, normalizeRoute, requestFrame, responseFrame } from './codec.ts'
import type { KarpPayload, KarpRequestFrame, KarpResponseFrame } from './codec.ts'
import {
  DEFAULT_KEEP_ALIVE,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_TIMEOUT,
} from './constants.ts'
import {
  ErrorCode,
  KarpBadHandlerResultError,
  KarpClosedError,
  KarpDataError,
  KarpFrameTooLargeError,
  KarpTooManyInFlightError,
  RemoteError,
  failureText,
} from './errors.ts'
import type { KarpError } from './errors.ts'
import { generateId } from './id.ts'

/** What a handler learns about one incoming request. */
export interface KarpContext {
  /** Lowercased. */
  readonly route: string
  readonly id: string
  readonly data: Uint8Array
  /** `data` as UTF-8, U+FFFD for bad bytes. */
  readonly text: string
  /** `false` for a notification: the result is not sent. */
  readonly wantsReply: boolean
  /** Aborts when the connection goes away before the handler is done. */
  readonly signal: AbortSignal
  /** The connection the request came in on: a handler may call the peer back on it. */
  readonly peer: KarpPeer
}

/** `undefined`, `null` and `''` all answer success 1 with empty data. */
export type KarpResult = KarpPayload | null | undefined
/** A handler may also return nothing at all, like a notification handler usually does. */
export type KarpHandler = (ctx: KarpContext) => KarpResult | void | Promise<KarpResult | void>

/** Options of both ends of a connection. */
export interface KarpOptions {
  /** Handlers by route; names are lowercased and must then be `[a-z_]+`. @default {} */
  routes?: Record<string, KarpHandler> | undefined
  /** Largest frame sent or accepted, LF included. @default 16_777_216 */
  maxFrameBytes?: number | undefined
  /** Handlers running, and requests awaiting replies, per connection. @default 1024 */
  maxInFlight?: number | undefined
  /** Milliseconds a `request()` waits for its reply. @default 30_000 */
  timeout?: number | undefined
  /** Initial delay of TCP keep-alive probes in milliseconds; `false` turns them off. @default 60_000 */
  keepAlive?: number | false | undefined
  /** Output queued per connection before writes are refused. @default 67_108_864 */
  maxWriteBufferBytes?: number | undefined
}

/** A success-1 answer to `request()`. */
export interface KarpReply {
  readonly id: string
  readonly data: Uint8Array
  /** `data` as UTF-8, U+FFFD for bad bytes. */
  text(): string
}

export interface KarpPeerEvents {
  /** A line was dropped, a limit was hit, or the peer does not read its replies. */
  protocolError: [err: KarpError]
  /** A handler threw or returned something that cannot be sent. */
  handlerError: [err: unknown, ctx: KarpContext]
  /** The connection is gone; `err` says why when it did not end cleanly. */
  close: [err?: KarpError]
}

/** One end of a KARP connection: both ends serve routes and send requests. */
export interface KarpPeer extends EventEmitter<KarpPeerEvents>, AsyncDisposable {
  readonly remote: { address: string; port: number }
  /** Registers a handler for this connection; it wins over a server route of the same name. */
  route(name: string, handler: KarpHandler): this
  /** Sends a request and waits for its reply; a success-0 answer rejects with `RemoteError`. */
  request(route: string, data?: KarpPayload, opts?: CallOptions): Promise<KarpReply>
  /** Sends a notification (no reply) and resolves once it is written. */
  notify(route: string, data?: KarpPayload, opts?: CallOptions): Promise<void>
  /** Refuses new calls, waits for pending requests and running handlers, then ends the connection. */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void>
  /** Resolves, never rejects, once the connection is gone. */
  readonly closed: Promise<void>
}

/** The options of a connection once defaults are applied and values checked. */
export interface PeerLimits {
  readonly maxFrameBytes: number
  readonly maxInFlight: number
  readonly timeout: number
  readonly keepAlive: number | false
  readonly maxWriteBufferBytes: number
}

/**
 * The options with their defaults applied.
 * @throws {UsageError} for an option that is not a whole number in range
 */
export function resolveLimits(options: KarpOptions): PeerLimits {
  return {
    // The smallest frame is 51 bytes; below that nothing could be exchanged.
    maxFrameBytes: checkLimit('maxFrameBytes', options.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 64),
    maxInFlight: checkLimit('maxInFlight', options.maxInFlight, DEFAULT_MAX_IN_FLIGHT),
    timeout: checkTimeout(options.timeout, DEFAULT_TIMEOUT, 1),
    keepAlive: options.keepAlive === false ? false : checkLimit('keepAlive', options.keepAlive, DEFAULT_KEEP_ALIVE, 0),
    maxWriteBufferBytes: checkLimit('maxWriteBufferBytes', options.maxWriteBufferBytes, DEFAULT_MAX_WRITE_BUFFER_BYTES),
  }
}

// Node timers take at most 2^31 − 1 ms and fire at once for anything longer.
const MAX_TIMEOUT = 2_147_483_647

function checkTimeout(value: number | undefined, fallback: number, min: number): number {
  const timeout = checkLimit('timeout', value, fallback, min)
  if (timeout > MAX_TIMEOUT) throw new UsageError(`timeout must be at most ${MAX_TIMEOUT} ms, got ${timeout}`)
  return timeout
}

/**
 * A route table keyed by lowercased names.
 * @throws {KarpInvalidRouteError} for a name that is not `[a-z_]+` once lowercased
 * @throws {UsageError} for a handler that is not a function
 */
export function routeTable(routes: Record<string, KarpHandler> | undefined): Map<string, KarpHandler> {
  const table = new Map<string, KarpHandler>()
  for (const [name, handler] of Object.entries(routes ?? {})) addRoute(table, name, handler)
  return table
}

export function addRoute(table: Map<string, KarpHandler>, name: string, handler: KarpHandler): void {
  if (typeof handler !== 'function') throw new UsageError(`the handler of route ${JSON.stringify(name)} is not a function`)
  table.set(normalizeRoute(name), handler)
}

const CR = 0x0d

interface Pending {
  readonly resolve: (reply: KarpReply) => void
  readonly reject: (err: unknown) => void
  /** When the request times out, on the `performance.now()` clock. */
  readonly deadline: number
  readonly signal: AbortSignal | undefined
  readonly onAbort: (() => void) | undefined
}

class Reply implements KarpReply {
  readonly id: string
  readonly data: Uint8Array

  constructor(id: string, data: Uint8Array) {
    this.id = id
    this.data = data
  }

  text(): string {
    return utf8(this.data)
  }
}

class Context implements KarpContext {
  readonly route: string
  readonly id: string
  readonly data: Uint8Array
  readonly wantsReply: boolean
  readonly peer: KarpPeer
  // Most handlers never look at their signal, so the controller is made on first use.
  #controller: AbortController | undefined
  #aborted = false
  #reason: unknown

  constructor(frame: KarpRequestFrame, peer: KarpPeer) {
    this.route = frame.route
    this.id = frame.id
    this.data = frame.data
    this.wantsReply = frame.wantsReply
    this.peer = peer
  }

  get text(): string {
    return utf8(this.data)
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }

  static abort(ctx: Context, reason: unknown): void {
    ctx.#aborted = true
    ctx.#reason = reason
    ctx.#controller?.abort(reason)
  }
}

/** One end of a connection over any duplex stream; `connect()` and servers make them. */
export class Peer extends EventEmitter<KarpPeerEvents> implements KarpPeer {
  readonly remote: { address: string; port: number }
  readonly closed: Promise<void>
  readonly #conn: FramedConnection
  readonly #limits: PeerLimits
  readonly #routes: Map<string, KarpHandler>
  readonly #fallback: ReadonlyMap<string, KarpHandler> | undefined
  readonly #pending = new Map<string, Pending>()
  readonly #running = new Set<Context>()
  readonly #resolveClosed: () => void
  #state: 'open' | 'closing' | 'closed' = 'open'
  #ending = false
  #failure: KarpError | undefined
  /**
   * One timer for every pending request, armed for the earliest deadline and left running when
   * that request is answered: a request costs a clock read rather than a timer of its own.
   */
  #timer: NodeJS.Timeout | undefined
  #timerDeadline = Number.POSITIVE_INFINITY

  /** Times out every request past its deadline, then waits for the earliest one left. */
  readonly #onTimer = (): void => {
    this.#timer = undefined
    this.#timerDeadline = Number.POSITIVE_INFINITY
    const now = performance.now()
    let next = Number.POSITIVE_INFINITY
    for (const [id, entry] of this.#pending) {
      if (entry.deadline <= now) this.#reject(id, timeoutError())
      else next = Math.min(next, entry.deadline)
    }
    if (next !== Number.POSITIVE_INFINITY) this.#armTimer(next)
  }

  // One function for every reply rather than a closure each.
  readonly #onReplyWriteError = (err: unknown): void => {
    // A closed connection needs no report; a full buffer means the peer sends without reading.
    if (!isCode(err, ProtoCode.WRITE_BUFFER_FULL) || this.#state === 'closed') return
    const failure = new KarpClosedError('the peer does not read its replies (maxWriteBufferBytes)', { cause: err })
    this.#failure ??= failure
    this.emit('protocolError', failure)
    this.#conn.destroy(failure)
  }

  constructor(
    stream: Duplex,
    limits: PeerLimits,
    routes: Map<string, KarpHandler>,
    fallback?: ReadonlyMap<string, KarpHandler>,
  ) {
    super()
    this.#limits = limits
    this.#routes = routes
    this.#fallback = fallback
    if (stream instanceof Socket) {
      this.remote = { address: stream.remoteAddress ?? '', port: stream.remotePort ?? 0 }
      // Pipelined requests and replies are already batched per tick; Nagle would only delay them.
      stream.setNoDelay(true)
      if (limits.keepAlive !== false) stream.setKeepAlive(true, limits.keepAlive)
    } else {
      this.remote = { address: '', port: 0 }
    }
    let resolveClosed = (): void => {}
    this.closed = new Promise<void>((resolve) => {
      resolveClosed = resolve
    })
    this.#resolveClosed = resolveClosed
    this.#conn = new FramedConnection(stream, {
      decoder: new LineDecoder({ maxLineBytes: limits.maxFrameBytes - 1, trailing: 'emit' }),
      maxWriteBufferBytes: limits.maxWriteBufferBytes,
    })
    void this.#conn.closed.then((ended) => this.#finish(ended))
    void this.#read()
  }

  route(name: string, handler: KarpHandler): this {
    addRoute(this.#routes, name, handler)
    return this
  }

  request(route: string, data: KarpPayload = '', opts?: CallOptions): Promise<KarpReply> {
    // A throw in the executor rejects the promise, so checks and setup need no async wrapper.
    return new Promise<KarpReply>((resolve, reject) => {
      this.#checkOpen()
      const signal = opts?.signal
      signal?.throwIfAborted()
      const timeout = opts?.timeout === undefined ? this.#limits.timeout : checkTimeout(opts.timeout, 0, 0)
      if (this.#pending.size >= this.#limits.maxInFlight) throw new KarpTooManyInFlightError(this.#limits.maxInFlight)
      const id = generateId(this.#pending)
      const frame = requestFrame(normalizeRoute(route), id, data, true, this.#limits.maxFrameBytes)
      const onAbort = signal === undefined ? undefined : (): void => this.#reject(id, signal.reason)
      // A deadline on the peer's timer rather than AbortSignal.timeout: it is cheaper per request
      // and fake timers can drive it.
      const deadline = performance.now() + timeout
      this.#pending.set(id, { resolve, reject, deadline, signal, onAbort })
      this.#armTimer(deadline)
      if (onAbort !== undefined) signal?.addEventListener('abort', onAbort, { once: true })
      this.#conn.write(frame).catch((err: unknown) => this.#reject(id, sendError(err)))
    })
  }

  async notify(route: string, data: KarpPayload = '', opts?: CallOptions): Promise<void> {
    this.#checkOpen()
    opts?.signal?.throwIfAborted()
    if (opts?.timeout !== undefined) checkTimeout(opts.timeout, 0, 0)
    const frame = requestFrame(normalizeRoute(route), generateId(this.#pending), data, false, this.#limits.maxFrameBytes)
    try {
      await this.#conn.write(frame, opts)
    } catch (err) {
      throw sendError(err)
    }
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
    this.#maybeEnd()
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
    if (entry.onAbort !== undefined) entry.signal?.removeEventListener('abort', entry.onAbort)
    return entry
  }

  #armTimer(deadline: number): void {
    if (deadline >= this.#timerDeadline) return
    clearTimeout(this.#timer)
    this.#timerDeadline = deadline
    this.#timer = setTimeout(this.#onTimer, Math.max(0, deadline - performance.now()))
    // The socket keeps the process alive while requests wait; the timer need not.
    this.#timer.unref()
  }

  #resolve(id: string, reply: KarpReply): void {
    this.#take(id)?.resolve(reply)
    this.#maybeEnd()
  }

  #reject(id: string, err: unknown): void {
    this.#take(id)?.reject(err)
    this.#maybeEnd()
  }

  async #read(): Promise<void> {
    try {
      for await (const line of this.#conn.frames()) {
        // The original skips blank lines, and a CRLF sender leaves a lone CR behind.
        if (line.length === 0 || (line.length === 1 && line[0] === CR)) continue
        this.#onLine(line)
      }
    } catch (err) {
      this.#onReadError(err)
      return
    }
    this.#onPeerEnd()
  }

  #onLine(line: Buffer): void {
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
    if (this.#state !== 'open') {
      if (frame.wantsReply) this.#reply(frame.id, false, 'closing')
      return
    }
    const handler = this.#routes.get(frame.route) ?? this.#fallback?.get(frame.route)
    if (handler === undefined) {
      if (frame.wantsReply) this.#reply(frame.id, false, quoteRoute(frame.route))
      return
    }
    if (this.#running.size >= this.#limits.maxInFlight) {
      const err = new KarpTooManyInFlightError(this.#limits.maxInFlight)
      if (frame.wantsReply) this.#reply(frame.id, false, failureText(err))
      else this.emit('protocolError', err)
      return
    }
    const ctx = new Context(frame, this)
    this.#running.add(ctx)
    let result
    try {
      result = handler(ctx)
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
    this.#running.delete(ctx)
    let problem: KarpError | undefined
    if (value === undefined || value === null) {
      if (ctx.wantsReply) problem = this.#reply(ctx.id, true, '')
    } else if (typeof value === 'string' || value instanceof Uint8Array) {
      if (ctx.wantsReply) problem = this.#reply(ctx.id, true, value)
    } else {
      problem = new KarpBadHandlerResultError(ctx.route, typeof value)
      if (ctx.wantsReply) this.#reply(ctx.id, false, failureText(problem))
    }
    this.#maybeEnd()
    if (problem !== undefined) this.emit('handlerError', problem, ctx)
  }

  #handlerFailed(ctx: Context, err: unknown): void {
    this.#running.delete(ctx)
    // The message only: a stack trace never goes on the wire.
    if (ctx.wantsReply) this.#reply(ctx.id, false, messageOf(err))
    this.#maybeEnd()
    this.emit('handlerError', err, ctx)
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
    if (isCode(err, ProtoCode.FRAME_TOO_LARGE)) {
      // Framing counts bytes before the LF; the frame, LF included, is at least one more.
      const size = (err as FrameTooLargeError).size + 1
      const failure = new KarpFrameTooLargeError(size, this.#limits.maxFrameBytes, { cause: err })
      this.#failure ??= failure
      this.emit('protocolError', failure)
      this.#conn.destroy(failure)
    } else {
      this.#conn.destroy(err instanceof Error ? err : undefined)
    }
  }

  #onPeerEnd(): void {
    if (this.#state === 'closed') return
    if (this.#state === 'open') this.#state = 'closing'
    // Nothing can answer our requests once the peer has ended its side.
    const err = new KarpClosedError('the peer ended the connection')
    for (const id of [...this.#pending.keys()]) this.#reject(id, err)
    this.#maybeEnd()
  }

  #maybeEnd(): void {
    if (this.#state !== 'closing' || this.#ending || this.#pending.size > 0 || this.#running.size > 0) return
    this.#ending = true
    // A failed end shows up in `closed`.
    this.#conn.end().catch(() => {})
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
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerDeadline = Number.POSITIVE_INFINITY
    const failure =
      this.#failure ??
      (ended === undefined ? undefined : new KarpClosedError('the connection failed', { cause: unwrapClosed(ended) }))
    const rejection =
      failure === undefined
        ? new KarpClosedError()
        : failure.code === ErrorCode.CLOSED
          ? failure
          : new KarpClosedError(`connection closed: ${failure.message}`, { cause: failure })
    for (const id of [...this.#pending.keys()]) this.#reject(id, rejection)
    for (const ctx of this.#running) Context.abort(ctx, rejection)
    if (failure === undefined) this.emit('close')
    else this.emit('close', failure)
    this.#resolveClosed()
  }
}

function utf8(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

/** A write failure of a call, in karp's terms; a full buffer keeps framing's code. */
function sendError(err: unknown): unknown {
  if (isCode(err, ProtoCode.CLOSED)) return new KarpClosedError('connection closed', { cause: unwrapClosed(err as ProtoError) })
  return err
}

/** What ended the stream: framing's ClosedError carries the socket error as its cause. */
function unwrapClosed(err: ProtoError): unknown {
  return err.code === ProtoCode.CLOSED && err.cause !== undefined ? err.cause : err
}

function timeoutError(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError')
}

/** The original answers an unknown route with `str(KeyError(route))`: the route's Python repr. */
function quoteRoute(route: string): string {
  return `'${route.replaceAll('\\', '\\\\')}'`
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message
  try {
    return String(err)
  } catch {
    // An object without a prototype has no toString.
    return Object.prototype.toString.call(err)
  }
}
