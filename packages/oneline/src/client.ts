import net from 'node:net'
import { checkLimit, FramedConnection, LineDecoder, WriteBufferFullError } from '@proto/framing'
import type { CallOptions } from '@proto/framing'
import { decodeLine, encodeLine } from './codec.ts'
import {
  Command,
  DEFAULT_HOST,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_QUEUED_LINES,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT,
  PONG,
} from './constants.ts'
import { ErrorCode, OnelineBadPongError, OnelineClosedError, OnelineConnectError, toOnelineError } from './errors.ts'
import type { OnelineError } from './errors.ts'

export interface OnelineConnectOptions {
  /** @default '127.0.0.1' */
  host?: string
  /** @default 5001 */
  port?: number
  /** Aborts connecting, including the wait for `pong`. */
  signal?: AbortSignal
  /** Milliseconds for connect (TCP and ping/pong) and the default of every later call that waits for the server. @default 3000 */
  timeout?: number
  /** Remove one CR before the LF of each received line. @default false */
  stripCR?: boolean
  /** Bytes of a received line before its LF, CR included. @default 65_536 */
  maxLineBytes?: number
  /** Received lines no request claims, kept for the async iterator; beyond this reading pauses. @default 1024 */
  maxQueuedLines?: number
  /** Unsent bytes held before a call fails with `ERR_PROTO_WRITE_BUFFER_FULL`. @default 67_108_864 */
  maxWriteBufferBytes?: number
}

export interface OnelineRequestOptions extends CallOptions {
  /** Response lines to wait for; 0 resolves once the command is written. @default 1 */
  lines?: number
}

export interface OnelineClient extends AsyncIterable<string>, AsyncDisposable {
  /** Writes `command` + LF and expects nothing; replies go to the async iterator. */
  send(command: string, opts?: CallOptions): Promise<void>
  /** Writes `command` + LF and resolves with the next `lines` lines no earlier request claims. */
  request(command: string, opts?: OnelineRequestOptions): Promise<string[]>
  /** Rejects with `ERR_ONELINE_BAD_PONG` unless the server answers `pong`. */
  ping(opts?: CallOptions): Promise<void>
  /** Stops the server (if it allows it) and waits for it to close this connection. */
  shutdown(opts?: CallOptions): Promise<void>
  /** Sends `disconnect`, waits for the server to close, then closes. */
  disconnect(opts?: CallOptions): Promise<void>
  /** The same as `disconnect()`. */
  close(opts?: CallOptions): Promise<void>
  /** Resolves, never rejects, when the connection has ended. */
  readonly closed: Promise<void>
}

/** Opens a connection and resolves once the server has answered `ping` with `pong`. */
export async function connect(options: OnelineConnectOptions = {}): Promise<OnelineClient> {
  const { host = DEFAULT_HOST, port = DEFAULT_PORT } = options
  const timeout = checkLimit('timeout', options.timeout, DEFAULT_TIMEOUT)
  const limits = {
    timeout,
    maxLineBytes: checkLimit('maxLineBytes', options.maxLineBytes, DEFAULT_MAX_LINE_BYTES),
    maxQueuedLines: checkLimit('maxQueuedLines', options.maxQueuedLines, DEFAULT_MAX_QUEUED_LINES),
    maxWriteBufferBytes: checkLimit('maxWriteBufferBytes', options.maxWriteBufferBytes, DEFAULT_MAX_WRITE_BUFFER_BYTES),
    stripCR: options.stripCR ?? false,
  }
  // One deadline for the TCP connect and the ping/pong, as the original's 3 s wait.
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(timeoutError()), timeout)
  const forward = (): void => controller.abort(options.signal?.reason)
  options.signal?.throwIfAborted()
  options.signal?.addEventListener('abort', forward, { once: true })
  try {
    const socket = await openSocket(host, port, controller.signal)
    const client = new Client(socket, limits)
    try {
      await client.ping({ signal: controller.signal })
    } catch (err) {
      client.destroy()
      throw err
    }
    return client
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', forward)
  }
}

function openSocket(host: string, port: number, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted()
    const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true })
    const settle = (err?: Error): void => {
      socket.off('connect', connected)
      socket.off('error', fail)
      signal.removeEventListener('abort', abort)
      if (err === undefined) return resolve(socket)
      socket.destroy()
      reject(err)
    }
    const connected = (): void => settle()
    const fail = (err: Error): void => settle(new OnelineConnectError(host, port, err))
    // An abort rejects with whatever reason it was given, Error or not.
    const abort = (): void => settle(signal.reason as Error)
    socket.once('connect', connected)
    socket.once('error', fail)
    signal.addEventListener('abort', abort, { once: true })
  })
}

/**
 * `promise`, unless the call's signal aborts (→ `signal.reason`) or its timeout passes (→ a
 * `TimeoutError` DOMException) first. A plain timer, as in `Waiter`.
 */
function bounded<T>(promise: Promise<T>, opts: CallOptions, fallbackTimeout?: number): Promise<T> {
  const { signal } = opts
  const timeout = opts.timeout ?? fallbackTimeout
  if (signal === undefined && timeout === undefined) return promise
  const ms = timeout === undefined ? undefined : checkLimit('timeout', timeout, 0, 0)
  signal?.throwIfAborted()
  return new Promise<T>((resolve, reject) => {
    const giveUp = (reason: Error): void => {
      cleanup()
      reject(reason)
    }
    const abort = (): void => giveUp(signal?.reason as Error)
    const timer = ms === undefined ? undefined : setTimeout(() => giveUp(timeoutError()), ms)
    const cleanup = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', abort)
    }
    signal?.addEventListener('abort', abort, { once: true })
    promise.then(
      (value) => {
        cleanup()
        resolve(value)
      },
      (err: Error) => {
        cleanup()
        reject(err)
      },
    )
  })
}

interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
  reject(err: unknown): void
}

// Promise.withResolvers arrived in Node 22.
function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = ignore
  let reject: (err: unknown) => void = ignore
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** A request waiting for its lines, in the order the server will answer. */
class Waiter {
  remaining: number
  /** When the request times out, on the `performance.now()` clock. */
  readonly deadline: number
  // Made at the first line, one element long: an empty literal reserves room for 17 on its first push.
  #lines: string[] | undefined
  /** Answered, failed or given up; a given-up request still counts its lines and drops them. */
  done = false
  readonly promise: Promise<string[]>
  #resolve: (lines: string[]) => void = ignore
  #reject: (err: Error) => void = ignore
  readonly #signal: AbortSignal | undefined
  readonly #abort: (() => void) | undefined

  // A listener only for a caller's signal: on Node 20 `AbortSignal.timeout()` and an abort
  // listener each cost tens of microseconds, more than a loopback round trip.
  constructor(lines: number, deadline: number, signal: AbortSignal | undefined) {
    this.remaining = lines
    this.deadline = deadline
    this.promise = new Promise<string[]>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    if (signal === undefined) return
    this.#signal = signal
    this.#abort = () => this.reject(signal.reason as Error)
    signal.addEventListener('abort', this.#abort, { once: true })
  }

  add(line: string): void {
    if (this.#lines === undefined) this.#lines = [line]
    else this.#lines.push(line)
  }

  resolve(): void {
    if (this.#settle()) this.#resolve(this.#lines ?? [])
  }

  reject(err: Error): void {
    if (this.#settle()) this.#reject(err)
  }

  #settle(): boolean {
    if (this.done) return false
    this.done = true
    if (this.#abort !== undefined) this.#signal?.removeEventListener('abort', this.#abort)
    return true
  }
}

/** A sync failure of a promise-returning call, as its rejection. */
function rejected(err: Error): Promise<never> {
  return Promise.reject(err)
}

/** What `AbortSignal.timeout()` would abort with. */
function timeoutError(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError')
}

interface Limits {
  timeout: number
  maxLineBytes: number
  maxQueuedLines: number
  maxWriteBufferBytes: number
  stripCR: boolean
}

const ignore = (): void => {}
// The longest delay a Node timer takes.
const MAX_TIMER_DELAY = 2_147_483_647
// The options of a call made without any, shared rather than a new object per call.
const NO_OPTIONS: OnelineRequestOptions = Object.freeze({})
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined }

class Client implements OnelineClient {
  readonly #conn: FramedConnection
  readonly #limits: Limits
  /** What toOnelineError names; the client has no idle limit. */
  readonly #errorLimits: { maxLineBytes: number; idleTimeout: number }
  readonly #waiters: Waiter[] = []
  /** Lines no request claimed, for the async iterator. */
  readonly #unclaimed: string[] = []
  readonly #readers: Deferred<IteratorResult<string>>[] = []
  /** Set once the server's side has ended: `failure` is what ended it, if anything did. */
  #ended: { failure: OnelineError | undefined } | undefined
  readonly #eof = deferred<void>()
  /** Wakes the reading loop paused on a full `#unclaimed`. */
  #resume: (() => void) | undefined
  /**
   * One timer for every waiting request, armed for the earliest deadline and left running when
   * that request is answered: a request costs a clock read rather than a timer of its own.
   */
  #timer: ReturnType<typeof setTimeout> | undefined
  #timerDeadline = Number.POSITIVE_INFINITY
  #leaving: Promise<void> | undefined
  readonly closed: Promise<void>

  constructor(socket: net.Socket, limits: Limits) {
    this.#limits = limits
    this.#errorLimits = { maxLineBytes: limits.maxLineBytes, idleTimeout: 0 }
    const decoder = new LineDecoder({ maxLineBytes: limits.maxLineBytes, stripCR: limits.stripCR, trailing: 'discard' })
    this.#conn = new FramedConnection(socket, { decoder, maxWriteBufferBytes: limits.maxWriteBufferBytes })
    this.closed = this.#conn.closed.then(ignore)
    void this.#read()
  }

  async #read(): Promise<void> {
    let failure: OnelineError | undefined
    try {
      for await (const raw of this.#conn.frames()) {
        this.#deliver(decodeLine(raw))
        // Holding the frame keeps framing from reading further, so the server feels the pause.
        while (this.#waiters.length === 0 && this.#unclaimed.length >= this.#limits.maxQueuedLines && this.#leaving === undefined) {
          await new Promise<void>((resolve) => (this.#resume = resolve))
        }
      }
    } catch (err) {
      const mapped = toOnelineError(err, this.#errorLimits)
      // Only I/O errors reach here, and they map to oneline errors, never WRITE_BUFFER_FULL.
      if (!(mapped instanceof WriteBufferFullError)) failure = mapped
    }
    this.#end(failure)
    const conn = this.#conn
    // The server sends FIN only when it is done with this client, so ours follows it.
    if (failure === undefined) void conn.end().then(() => conn.destroy(), () => conn.destroy())
    else conn.destroy()
  }

  #deliver(line: string): void {
    const waiter = this.#waiters[0]
    if (waiter !== undefined) {
      if (!waiter.done) waiter.add(line)
      if (--waiter.remaining > 0) return
      this.#waiters.shift()
      waiter.resolve()
      return
    }
    const reader = this.#readers.shift()
    if (reader !== undefined) reader.resolve({ done: false, value: line })
    // While leaving nobody reads on; the lines past the limit go, so the server's EOF can arrive.
    else if (this.#leaving === undefined || this.#unclaimed.length < this.#limits.maxQueuedLines) this.#unclaimed.push(line)
  }

  #armTimer(deadline: number): void {
    if (deadline >= this.#timerDeadline) return
    clearTimeout(this.#timer)
    this.#timerDeadline = deadline
    // Node fires a longer delay at once: a far deadline takes several turns of the timer.
    this.#timer = setTimeout(this.#onTimer, Math.min(MAX_TIMER_DELAY, Math.max(0, deadline - performance.now())))
    // The socket keeps the process alive while requests wait; the timer need not.
    this.#timer.unref()
  }

  /** Times out every request past its deadline, then waits for the earliest one left. */
  readonly #onTimer = (): void => {
    this.#timer = undefined
    this.#timerDeadline = Number.POSITIVE_INFINITY
    const now = performance.now()
    let next = Number.POSITIVE_INFINITY
    for (const waiter of this.#waiters) {
      if (waiter.done) continue
      if (waiter.deadline <= now) waiter.reject(timeoutError())
      else next = Math.min(next, waiter.deadline)
    }
    if (next !== Number.POSITIVE_INFINITY) this.#armTimer(next)
  }

  #end(failure: OnelineError | undefined): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerDeadline = Number.POSITIVE_INFINITY
    this.#ended = { failure }
    const err = this.#closedError()
    for (const waiter of this.#waiters.splice(0)) waiter.reject(err)
    for (const reader of this.#readers.splice(0)) {
      if (failure === undefined) reader.resolve(DONE)
      else reader.reject(err)
    }
    this.#eof.resolve()
  }

  #closedError(): OnelineError {
    const failure = this.#ended?.failure
    if (failure?.code === ErrorCode.CLOSED) return failure
    return new OnelineClosedError('connection closed before the expected lines', failure && { cause: failure })
  }

  #wake(): void {
    const resume = this.#resume
    this.#resume = undefined
    resume?.()
  }

  /** Writes one line; `WRITE_BUFFER_FULL` keeps its code, other failures become oneline errors. */
  async #write(bytes: Uint8Array): Promise<void> {
    if (this.#ended !== undefined) throw this.#closedError()
    try {
      await this.#conn.write(bytes)
    } catch (err) {
      throw toOnelineError(err, this.#errorLimits)
    }
  }

  send(command: string, opts: CallOptions = {}): Promise<void> {
    try {
      return bounded(this.#write(encodeLine(command)), opts)
    } catch (err) {
      return rejected(err as Error)
    }
  }

  request(command: string, opts: OnelineRequestOptions = NO_OPTIONS): Promise<string[]> {
    let waiter: Waiter
    try {
      const bytes = encodeLine(command)
      const lines = checkLimit('lines', opts.lines, 1, 0)
      const timeout = checkLimit('timeout', opts.timeout, this.#limits.timeout, 0)
      opts.signal?.throwIfAborted()
      if (lines === 0) return bounded(this.#write(bytes), opts, timeout).then(() => [])
      if (this.#ended !== undefined) throw this.#closedError()
      waiter = new Waiter(lines, performance.now() + timeout, opts.signal)
      // Queued before writing, so concurrent requests line up in the order their bytes go out.
      this.#waiters.push(waiter)
      this.#armTimer(waiter.deadline)
      this.#wake()
      this.#conn.write(bytes).then(undefined, (err: unknown) => {
        // Nothing was written, so nothing will answer: the request must not hold a place.
        if (err instanceof WriteBufferFullError) this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
        waiter.reject(toOnelineError(err, this.#errorLimits))
      })
    } catch (err) {
      return rejected(err as Error)
    }
    // Given up by timeout or signal, the request keeps its place and its lines are dropped.
    return waiter.promise
  }

  async ping(opts: CallOptions = {}): Promise<void> {
    const [line = ''] = await this.request(Command.PING, opts)
    if (line !== PONG) throw new OnelineBadPongError(line)
  }

  shutdown(opts: CallOptions = {}): Promise<void> {
    return (this.#leaving ??= this.#leave(Command.SHUTDOWN, opts))
  }

  disconnect(opts: CallOptions = {}): Promise<void> {
    return (this.#leaving ??= this.#leave(Command.DISCONNECT, opts))
  }

  close(opts: CallOptions = {}): Promise<void> {
    return this.disconnect(opts)
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return {
      next: () => this.#next(),
      // Leaving a for-await loop stops iterating, not the connection.
      return: () => Promise.resolve(DONE),
    }
  }

  #next(): Promise<IteratorResult<string>> {
    const line = this.#unclaimed.shift()
    if (line !== undefined) {
      this.#wake()
      return Promise.resolve({ done: false, value: line })
    }
    if (this.#ended !== undefined) return this.#ended.failure === undefined ? Promise.resolve(DONE) : Promise.reject(this.#closedError())
    const reader = deferred<IteratorResult<string>>()
    this.#readers.push(reader)
    return reader.promise
  }

  /** Sends the leaving command, waits for the server's EOF, then closes the socket. */
  async #leave(command: string, opts: CallOptions): Promise<void> {
    // A reader paused on a full line queue must go on, or the EOF is never seen.
    this.#wake()
    const leave = async (): Promise<void> => {
      if (this.#ended !== undefined) return
      await this.#write(encodeLine(command)).catch((err: unknown) => {
        // A connection that is already gone has nothing left to close.
        if (!(err instanceof OnelineClosedError)) throw err
      })
      await this.#eof.promise
      await this.#conn.end()
    }
    try {
      await bounded(leave(), opts, this.#limits.timeout)
    } finally {
      this.#conn.destroy()
      await this.closed
    }
  }

  /** Closes at once, without telling the server. */
  destroy(): void {
    this.#conn.destroy()
  }
}
