import net from 'node:net'
import { callSignal, checkLimit, FramedConnection, LineDecoder, WriteBufferFullError } from '@proto/framing'
import type { CallOptions } from '@proto/framing'
import { decodeCommand, encodeLine } from './codec.ts'
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
  const signal = callSignal(options.signal === undefined ? { timeout } : { signal: options.signal, timeout })
  const socket = await openSocket(host, port, signal)
  const client = new Client(socket, limits)
  try {
    await client.ping(signal === undefined ? {} : { signal })
  } catch (err) {
    client.destroy()
    throw err
  }
  return client
}

function openSocket(host: string, port: number, signal: AbortSignal | undefined): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted()
    const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true })
    const settle = (err?: Error): void => {
      socket.off('connect', connected)
      socket.off('error', fail)
      signal?.removeEventListener('abort', abort)
      if (err === undefined) return resolve(socket)
      socket.destroy()
      reject(err)
    }
    const connected = (): void => settle()
    const fail = (err: Error): void => settle(new OnelineConnectError(host, port, err))
    // An abort rejects with whatever reason it was given, Error or not.
    const abort = (): void => settle(signal?.reason as Error)
    socket.once('connect', connected)
    socket.once('error', fail)
    signal?.addEventListener('abort', abort, { once: true })
  })
}

/** Waits for `promise`, or rejects with the reason when `signal` aborts first. */
async function until<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  signal.throwIfAborted()
  let abort = ignore
  const aborted = new Promise<never>((_resolve, reject) => (abort = () => reject(signal.reason as Error)))
  signal.addEventListener('abort', abort, { once: true })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', abort)
  }
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
interface Waiter {
  remaining: number
  readonly lines: string[]
  /** Answered, failed or given up; a given-up request still counts its lines and drops them. */
  done: boolean
  readonly answer: Deferred<string[]>
}

interface Limits {
  timeout: number
  maxLineBytes: number
  maxQueuedLines: number
  maxWriteBufferBytes: number
  stripCR: boolean
}

const ignore = (): void => {}
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined }

class Client implements OnelineClient {
  readonly #conn: FramedConnection
  readonly #limits: Limits
  readonly #waiters: Waiter[] = []
  /** Lines no request claimed, for the async iterator. */
  readonly #unclaimed: string[] = []
  readonly #readers: Deferred<IteratorResult<string>>[] = []
  /** Set once the server's side has ended: `failure` is what ended it, if anything did. */
  #ended: { failure: OnelineError | undefined } | undefined
  readonly #eof = deferred<void>()
  /** Wakes the reading loop paused on a full `#unclaimed`. */
  #resume: (() => void) | undefined
  #leaving: Promise<void> | undefined
  readonly closed: Promise<void>

  constructor(socket: net.Socket, limits: Limits) {
    this.#limits = limits
    const decoder = new LineDecoder({ maxLineBytes: limits.maxLineBytes, stripCR: limits.stripCR, trailing: 'discard' })
    this.#conn = new FramedConnection(socket, { decoder, maxWriteBufferBytes: limits.maxWriteBufferBytes })
    this.closed = this.#conn.closed.then(ignore)
    void this.#read()
  }

  async #read(): Promise<void> {
    let failure: OnelineError | undefined
    try {
      for await (const raw of this.#conn.frames()) {
        this.#deliver(decodeCommand(raw).text)
        // Holding the frame keeps framing from reading further, so the server feels the pause.
        while (this.#waiters.length === 0 && this.#unclaimed.length >= this.#limits.maxQueuedLines && this.#leaving === undefined) {
          await new Promise<void>((resolve) => (this.#resume = resolve))
        }
      }
    } catch (err) {
      const mapped = toOnelineError(err, { maxLineBytes: this.#limits.maxLineBytes, idleTimeout: 0 })
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
      if (!waiter.done) waiter.lines.push(line)
      if (--waiter.remaining > 0) return
      this.#waiters.shift()
      if (waiter.done) return
      waiter.done = true
      waiter.answer.resolve(waiter.lines)
      return
    }
    const reader = this.#readers.shift()
    if (reader !== undefined) reader.resolve({ done: false, value: line })
    // While leaving nobody reads on; the lines past the limit go, so the server's EOF can arrive.
    else if (this.#leaving === undefined || this.#unclaimed.length < this.#limits.maxQueuedLines) this.#unclaimed.push(line)
  }

  #end(failure: OnelineError | undefined): void {
    this.#ended = { failure }
    const err = this.#closedError()
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.done) continue
      waiter.done = true
      waiter.answer.reject(err)
    }
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

  #signal(opts: CallOptions, timeout?: number): AbortSignal | undefined {
    const { signal, timeout: ms = timeout } = opts
    if (signal === undefined) return ms === undefined ? undefined : callSignal({ timeout: ms })
    return callSignal(ms === undefined ? { signal } : { signal, timeout: ms })
  }

  async #write(bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    if (this.#ended !== undefined) throw this.#closedError()
    try {
      await this.#conn.write(bytes, signal === undefined ? undefined : { signal })
    } catch (err) {
      if (signal?.aborted === true && err === signal.reason) throw err
      throw toOnelineError(err, { maxLineBytes: this.#limits.maxLineBytes, idleTimeout: 0 })
    }
    // A call aborted before it settles rejects, even when its bytes were already taken.
    signal?.throwIfAborted()
  }

  async send(command: string, opts: CallOptions = {}): Promise<void> {
    const bytes = encodeLine(command)
    const signal = this.#signal(opts)
    signal?.throwIfAborted()
    await this.#write(bytes, signal)
  }

  async request(command: string, opts: OnelineRequestOptions = {}): Promise<string[]> {
    const bytes = encodeLine(command)
    const lines = checkLimit('lines', opts.lines, 1, 0)
    const signal = this.#signal(opts, this.#limits.timeout)
    signal?.throwIfAborted()
    if (lines === 0) {
      await this.#write(bytes, signal)
      return []
    }
    if (this.#ended !== undefined) throw this.#closedError()
    const waiter: Waiter = { remaining: lines, lines: [], done: false, answer: deferred() }
    // Given up before the write settles, the answer has no reader yet; this keeps it handled.
    waiter.answer.promise.catch(ignore)
    // Queued before writing, so concurrent requests line up in the order their bytes go out.
    this.#waiters.push(waiter)
    this.#wake()
    const abort = (): void => {
      if (waiter.done) return
      waiter.done = true
      waiter.answer.reject(signal?.reason as Error)
    }
    signal?.addEventListener('abort', abort, { once: true })
    try {
      await this.#write(bytes, signal)
      return await waiter.answer.promise
    } catch (err) {
      // Nothing was written, so nothing will answer: the request must not hold a place.
      if (err instanceof WriteBufferFullError) this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
      waiter.done = true
      throw err
    } finally {
      signal?.removeEventListener('abort', abort)
    }
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
    const signal = this.#signal(opts, this.#limits.timeout)
    try {
      if (this.#ended === undefined) {
        await this.#write(encodeLine(command), signal).catch((err: unknown) => {
          // A connection that is already gone has nothing left to close.
          if (!(err instanceof OnelineClosedError)) throw err
        })
        await until(this.#eof.promise, signal)
        await this.#conn.end(signal === undefined ? undefined : { signal })
      }
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
