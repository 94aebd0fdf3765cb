// FramedConnection: a byte stream read as frames through a decoder, written with batching and backpressure.
import type { Buffer } from 'node:buffer'
import process from 'node:process'
import type { Duplex } from 'node:stream'
import { ByteReader } from './byte-reader.ts'
import { DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_READ_BYTES, DEFAULT_MAX_WRITE_BUFFER_BYTES } from './constants.ts'
import { DeadlineScheduler, checkTimeout, guardCall } from './deadlines.ts'
import type { CallGuard } from './deadlines.ts'
import { ClosedError, IdleTimeoutError, TimeoutError, UsageError, WriteBufferFullError, isProtoError } from './errors.ts'
import type { ProtoError } from './errors.ts'
import { rejectWith } from './iterate.ts'
import type { AsyncFrameDecoder, FrameDecoder } from './iterate.ts'
import { checkLimit } from './options.ts'
import type { CallOptions } from './options.ts'
import { retainedBytes } from './retained.ts'

// A settled promise holds no state a caller could change, so every write below the mark shares one.
const RESOLVED = Promise.resolve()
// The longest delay a Node timer takes.
const MAX_TIMER_DELAY = 2_147_483_647
const writeTimedOut = (timeout: number): TimeoutError => new TimeoutError('write', timeout)
const endTimedOut = (timeout: number): TimeoutError => new TimeoutError('end', timeout)

/** Options of `FramedConnection`. */
export interface FramedConnectionInit<T = Buffer> {
  /** Turns the incoming bytes into frames; without one, `frames()` yields the chunks as they come. @default undefined */
  decoder?: FrameDecoder<T> | AsyncFrameDecoder<T> | undefined
  /** Milliseconds a read may wait for a byte before the connection fails; 0 is off. @default 0 */
  idleTimeout?: number | undefined
  /** Output queued beyond this makes `write()` fail with `WriteBufferFullError`. @default 67_108_864 */
  maxWriteBufferBytes?: number | undefined
  /** Largest `reader().bytes(n)`. @default 16_777_216 */
  maxReadBytes?: number | undefined
  /** Aborting destroys the connection; reads reject with `signal.reason`. @default undefined */
  signal?: AbortSignal | undefined
}

/**
 * Frames over a Duplex (a socket made with `allowHalfOpen: true`): batched writes with
 * backpressure and a write buffer limit, decoded reads with an idle clock, and a `closed`
 * promise that never rejects.
 */
export class FramedConnection<T = Buffer> implements AsyncDisposable {
  readonly #stream: Duplex
  readonly #decoder: FrameDecoder<T> | AsyncFrameDecoder<T> | undefined
  readonly #idleTimeout: number
  readonly #maxWriteBufferBytes: number
  readonly #maxReadBytes: number
  readonly #signal: AbortSignal | undefined
  readonly #closed: Promise<ProtoError | undefined>
  #resolveClosed!: (value: ProtoError | undefined) => void
  #closeError: ProtoError | undefined
  #readStarted = false
  // Chunks received but not yet read; once the memory they hold reaches the stream's high-water
  // mark the stream is paused. Memory, not length: 1-byte reads cost some 500 bytes each, so
  // counting bytes would let a high-water mark of them take hundreds of times its size.
  // Slots are reused rather than the array replaced once read: no new array per chunk.
  #chunks: (Buffer | undefined)[] = []
  #chunkHead = 0
  #chunkCount = 0
  #queued = 0
  #readEnded = false
  #readError: Error | undefined
  #wake: (() => void) | undefined
  #corked = false
  #ending = false
  #endPromise: Promise<void> | undefined
  #drainWaiters = new Set<(err?: unknown) => void>()
  #onAbort: (() => void) | undefined
  #deadlines: DeadlineScheduler | undefined

  constructor(stream: Duplex, init?: FramedConnectionInit<T>) {
    this.#stream = stream
    this.#decoder = init?.decoder
    this.#idleTimeout = checkLimit('idleTimeout', init?.idleTimeout, DEFAULT_IDLE_TIMEOUT, 0)
    this.#maxWriteBufferBytes = checkLimit(
      'maxWriteBufferBytes',
      init?.maxWriteBufferBytes,
      DEFAULT_MAX_WRITE_BUFFER_BYTES,
    )
    this.#maxReadBytes = checkLimit('maxReadBytes', init?.maxReadBytes, DEFAULT_MAX_READ_BYTES, 0)
    this.#signal = init?.signal
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve
    })
    stream.on('error', (err: Error) => {
      this.#closeError ??= new ClosedError(`stream failed: ${err.message}`, { cause: err })
      this.#readError ??= this.#closeError
      this.#wakeReader()
    })
    stream.on('drain', () => {
      this.#settleDrain()
    })
    stream.on('close', () => {
      this.#onClose()
    })
    if (stream.destroyed) queueMicrotask(() => this.#onClose())
    const signal = this.#signal
    if (signal !== undefined) {
      if (signal.aborted) this.#abort(signal.reason)
      else {
        this.#onAbort = () => this.#abort(signal.reason)
        signal.addEventListener('abort', this.#onAbort, { once: true })
      }
    }
  }

  /** Bytes written but not yet handed to the operating system. */
  get bufferedBytes(): number {
    return this.#stream.writableLength
  }

  /** Resolves, never rejects, when the connection has ended: with its error, or `undefined`. */
  get closed(): Promise<ProtoError | undefined> {
    return this.#closed
  }

  /**
   * The incoming frames, decoded as by `decodeFrames`: a fault comes after the frames before it.
   * Call this or `reader()`, once.
   */
  frames(): AsyncIterableIterator<T> {
    this.#startReading()
    return this.#frameIterator()
  }

  /** A `ByteReader` over the incoming bytes. Call this or `frames()`, once. */
  reader(): ByteReader {
    this.#startReading()
    return new ByteReader(this.#incoming(), { maxReadBytes: this.#maxReadBytes })
  }

  /**
   * Queues a frame (its pieces in order, unsplit). Resolves when the output is below the
   * stream's high-water mark, else on `'drain'`; an abort or timeout only ends the wait.
   * @throws {WriteBufferFullError} when the frame would pass `maxWriteBufferBytes`; nothing is written
   * @throws {ClosedError} after `end()` or once the connection is closed
   */
  write(frame: Uint8Array | readonly Uint8Array[], opts?: CallOptions): Promise<void> {
    const stream = this.#stream
    if (this.#ending || this.#closeError !== undefined || stream.destroyed || !stream.writable) {
      return Promise.reject(new ClosedError('write after the connection closed', { cause: this.#closeError }))
    }
    if (opts?.signal?.aborted === true) return rejectWith(opts.signal.reason)
    if (opts?.timeout !== undefined) {
      try {
        checkTimeout('timeout', opts.timeout, Number.POSITIVE_INFINITY)
      } catch (err) {
        return rejectWith(err)
      }
    }
    let size = 0
    if (frame instanceof Uint8Array) size = frame.length
    else for (const piece of frame) size += piece.length
    const buffered = stream.writableLength
    if (buffered + size > this.#maxWriteBufferBytes) {
      return Promise.reject(new WriteBufferFullError(buffered, size, this.#maxWriteBufferBytes))
    }
    if (!this.#corked) {
      // Everything written in this tick leaves in one `_writev`, so one syscall.
      this.#corked = true
      stream.cork()
      process.nextTick(this.#uncorkTick)
    }
    let below = true
    if (frame instanceof Uint8Array) below = stream.write(frame)
    else for (const piece of frame) below = stream.write(piece)
    if (below) return RESOLVED
    return this.#waitDrain(opts)
  }

  /**
   * Refuses further writes, flushes, sends FIN and resolves on `'finish'`. The read side stays
   * open. Its signal or timeout destroys the connection.
   */
  end(opts?: CallOptions): Promise<void> {
    if (this.#endPromise !== undefined) return this.#endPromise
    const stream = this.#stream
    try {
      checkTimeout('timeout', opts?.timeout, Number.POSITIVE_INFINITY)
    } catch (err) {
      return rejectWith(err)
    }
    this.#ending = true
    this.#endPromise = new Promise<void>((resolve, reject) => {
      if (stream.writableFinished) {
        resolve()
        return
      }
      if (stream.destroyed || this.#closeError !== undefined) {
        reject(new ClosedError('end after the connection closed', { cause: this.#closeError }))
        return
      }
      let guard: CallGuard | undefined
      const cleanup = (): void => {
        stream.off('finish', onFinish)
        stream.off('close', onClose)
        guard?.release()
      }
      const onFinish = (): void => {
        cleanup()
        resolve()
      }
      const onClose = (): void => {
        cleanup()
        if (stream.writableFinished) resolve()
        else reject(new ClosedError('closed before the output was flushed', { cause: this.#closeError }))
      }
      const onStop = (reason: unknown): void => {
        cleanup()
        this.#abort(reason)
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort reason is any value
        reject(reason)
      }
      stream.on('finish', onFinish)
      stream.on('close', onClose)
      if (opts?.signal !== undefined || opts?.timeout !== undefined) {
        try {
          guard = guardCall(this.#scheduler(), opts, Number.POSITIVE_INFINITY, onStop, endTimedOut)
        } catch (err) {
          onStop(err)
          return
        }
      }
      this.#uncork()
      stream.end()
    })
    return this.#endPromise
  }

  /**
   * Closes at once. Pending writes reject with `ClosedError` (`cause: err`), and so do reads when
   * `err` is given; `closed` resolves with that error.
   */
  destroy(err?: Error): void {
    if (err === undefined) this.#fail(undefined, undefined)
    else {
      const closed = isProtoError(err) ? err : new ClosedError(`destroyed: ${err.message}`, { cause: err })
      this.#fail(closed, closed)
    }
  }

  /** `end()`, then `closed`. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.end()
    } catch {
      // Already closed, or ended by its signal: `closed` still settles.
    }
    // Without a reader nothing would see the peer's FIN, and the stream would never close.
    if (!this.#readStarted) {
      this.#readStarted = true
      this.#stream.resume()
    }
    await this.#closed
  }

  #startReading(): void {
    if (this.#readStarted) throw new UsageError('frames() or reader() may be called once per connection')
    this.#readStarted = true
    const stream = this.#stream
    const highWaterMark = Math.max(1, stream.readableHighWaterMark)
    stream.on('data', (chunk: Buffer) => {
      this.#chunks[this.#chunkCount++] = chunk
      this.#queued += retainedBytes(chunk)
      if (this.#queued >= highWaterMark) stream.pause()
      this.#wakeReader()
    })
    stream.on('end', () => {
      this.#readEnded = true
      this.#wakeReader()
    })
    // A stream paused before (a socket from `pauseOnConnect`) stays paused under a new 'data'
    // listener.
    stream.resume()
  }

  /**
   * The iterator behind `frames()`. A frame already decoded is handed out at once, in an
   * already-settled promise, and a lone `next()` that has to wait is answered straight from the
   * `'data'` event: a request-reply peer pays no generator or promise-chain hops per frame.
   */
  #frameIterator(): AsyncIterableIterator<T> {
    const decoder = this.#decoder
    let frames: T[] = []
    let head = 0
    let finished = false
    // A decoder fault waits until the frames before it are taken.
    let fault: Error | undefined
    // An asynchronous decoder's push or end, not yet settled.
    let decoding: Promise<T[]> | undefined
    // Calls to next() not yet answered; while there are any, none may overtake them.
    let waiting = 0
    let tail: Promise<unknown> = Promise.resolve()
    // The lone waiting next() of the fast path, answered by `onInput`.
    let resolveWait: ((result: IteratorResult<T, undefined>) => void) | undefined
    let rejectWait: ((err: unknown) => void) | undefined

    const accept = (decoded: T[]): void => {
      frames = decoded
      head = 0
      if (decoder?.error !== undefined) {
        finished = true
        fault = decoder.error
      }
    }

    /** The next result without waiting; `undefined` when input or an asynchronous decode must come first. */
    const step = (): IteratorResult<T, undefined> | undefined => {
      for (;;) {
        if (head < frames.length) return { done: false, value: frames[head++] as T }
        if (finished) {
          const err = fault
          fault = undefined
          if (err !== undefined) throw err
          return { done: true, value: undefined }
        }
        if (decoding !== undefined) return undefined
        const chunk = this.#takeChunk()
        let decoded: T[] | Promise<T[]>
        if (chunk !== undefined) {
          if (decoder === undefined) decoded = [chunk as T]
          else decoded = decoder.push(chunk)
        } else if (this.#readError !== undefined) {
          finished = true
          throw this.#readError
        } else if (this.#readEnded) {
          finished = true
          if (decoder === undefined) continue
          decoded = decoder.end()
        } else if (this.#stream.destroyed) {
          finished = true
          throw new ClosedError('connection closed before the input ended')
        } else {
          return undefined
        }
        if (Array.isArray(decoded)) accept(decoded)
        else {
          decoding = decoded
          return undefined
        }
      }
    }

    const pull = async (): Promise<IteratorResult<T, undefined>> => {
      for (;;) {
        const result = step()
        if (result !== undefined) return result
        const pending = decoding
        if (pending === undefined) {
          await this.#waitForInput()
          continue
        }
        let decoded: T[]
        try {
          decoded = await pending
        } catch (err) {
          finished = true
          throw err
        } finally {
          decoding = undefined
        }
        accept(decoded)
      }
    }

    const settled = (): void => {
      waiting -= 1
    }

    // The fast path's wake-up: one function for the iterator, not a closure per wait.
    const onInput = (): void => {
      const resolve = resolveWait
      const reject = rejectWait
      if (resolve === undefined || reject === undefined) return
      let result: IteratorResult<T, undefined> | undefined
      try {
        result = step()
      } catch (err) {
        resolveWait = rejectWait = undefined
        waiting -= 1
        reject(err)
        return
      }
      if (result === undefined) {
        if (decoding === undefined) {
          // Bytes without a whole frame: wait on.
          this.#armWait(onInput)
          return
        }
        resolveWait = rejectWait = undefined
        pull().then(resolve, reject).finally(settled)
        return
      }
      resolveWait = rejectWait = undefined
      waiting -= 1
      resolve(result)
    }

    const iterator: AsyncIterableIterator<T> = {
      next: () => {
        if (waiting === 0) {
          if (head < frames.length) return Promise.resolve({ done: false, value: frames[head++] as T })
          let result: IteratorResult<T, undefined> | undefined
          try {
            result = step()
          } catch (err) {
            return rejectWith(err)
          }
          if (result !== undefined) return Promise.resolve(result)
          waiting = 1
          if (decoding === undefined) {
            const wait = new Promise<IteratorResult<T, undefined>>((resolve, reject) => {
              resolveWait = resolve
              rejectWait = reject
            })
            this.#armWait(onInput)
            tail = wait
            return wait
          }
          const decoded = pull().finally(settled)
          tail = decoded
          return decoded
        }
        // Calls that do not wait for each other are answered in order.
        waiting += 1
        const run = (): Promise<IteratorResult<T, undefined>> => pull().finally(settled)
        const result = tail.then(run, run)
        tail = result
        return result
      },
      return: () => {
        finished = true
        fault = undefined
        frames = []
        head = 0
        return Promise.resolve({ done: true, value: undefined })
      },
      [Symbol.asyncIterator]: () => iterator,
    }
    return iterator
  }

  /** The chunks for `reader()`. */
  async *#incoming(): AsyncGenerator<Buffer> {
    for (;;) {
      const chunk = this.#takeChunk()
      if (chunk !== undefined) {
        yield chunk
        continue
      }
      if (this.#readError !== undefined) throw this.#readError
      if (this.#readEnded) return
      if (this.#stream.destroyed) throw new ClosedError('connection closed before the input ended')
      await this.#waitForInput()
    }
  }

  /** The next received chunk, if any; reading resumes once the queue is below the high-water mark. */
  #takeChunk(): Buffer | undefined {
    if (this.#chunkHead === this.#chunkCount) return undefined
    const chunk = this.#chunks[this.#chunkHead] as Buffer
    this.#chunks[this.#chunkHead] = undefined
    this.#chunkHead += 1
    if (this.#chunkHead === this.#chunkCount) {
      this.#chunkHead = 0
      this.#chunkCount = 0
    }
    this.#queued -= retainedBytes(chunk)
    const stream = this.#stream
    if (this.#queued < Math.max(1, stream.readableHighWaterMark) && stream.isPaused() && this.#readError === undefined) {
      stream.resume()
    }
    return chunk
  }

  /** Waits for data, end or failure; the idle clock runs only here, where nothing is buffered. */
  #waitForInput(): Promise<void> {
    return new Promise((resolve) => {
      this.#armWait(resolve)
    })
  }

  /** Calls `wake` once on data, end or failure, with the idle clock running until then. */
  #armWait(wake: () => void): void {
    const idleTimeout = this.#idleTimeout
    if (idleTimeout === 0) {
      this.#wake = wake
      return
    }
    if (idleTimeout <= MAX_TIMER_DELAY) {
      const timer = setTimeout(this.#onIdle, idleTimeout)
      this.#wake = () => {
        clearTimeout(timer)
        wake()
      }
      return
    }
    // Node fires a longer delay after 1 ms: a far limit takes several turns of the timer.
    let left = idleTimeout
    let timer: ReturnType<typeof setTimeout> | undefined
    const turn = (): void => {
      if (left === 0) return this.#onIdle()
      const delay = Math.min(left, MAX_TIMER_DELAY)
      left -= delay
      timer = setTimeout(turn, delay)
    }
    turn()
    this.#wake = () => {
      clearTimeout(timer)
      wake()
    }
  }

  readonly #onIdle = (): void => {
    const err = new IdleTimeoutError(this.#idleTimeout)
    this.#fail(err, err)
  }

  #wakeReader(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  #abort(reason: unknown): void {
    const closed = isProtoError(reason) ? reason : new ClosedError('aborted', { cause: reason })
    // Reads reject with the reason itself, as `api.md` has every abort do.
    this.#fail(reason as Error, closed)
  }

  /** Ends the connection: reads fail with `readError` (or end, when it is undefined). */
  #fail(readError: Error | undefined, closeError: ProtoError | undefined): void {
    if (this.#closeError === undefined && closeError !== undefined) this.#closeError = closeError
    if (this.#readError === undefined && readError !== undefined) this.#readError = readError
    if (readError === undefined && this.#readError === undefined) this.#readEnded = true
    this.#stream.destroy()
    this.#rejectDrainWaiters()
    this.#wakeReader()
  }

  // One function for every tick rather than a closure per tick.
  readonly #uncorkTick = (): void => {
    this.#uncork()
  }

  #uncork(): void {
    if (!this.#corked) return
    this.#corked = false
    this.#stream.uncork()
  }

  #waitDrain(opts: CallOptions | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let guard: CallGuard | undefined
      const settle = (err?: unknown): void => {
        this.#drainWaiters.delete(settle)
        guard?.release()
        if (err === undefined) resolve()
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort reason is any value
        else reject(err)
      }
      this.#drainWaiters.add(settle)
      if (opts?.signal === undefined && opts?.timeout === undefined) return
      try {
        guard = guardCall(this.#scheduler(), opts, Number.POSITIVE_INFINITY, settle, writeTimedOut)
      } catch (err) {
        settle(err)
      }
    })
  }

  /** The deadlines of this connection's waits, on one timer made at the first. */
  #scheduler(): DeadlineScheduler {
    return (this.#deadlines ??= new DeadlineScheduler())
  }

  #settleDrain(): void {
    for (const settle of [...this.#drainWaiters]) settle()
  }

  #rejectDrainWaiters(): void {
    if (this.#drainWaiters.size === 0) return
    const err = new ClosedError('connection closed before the output drained', { cause: this.#closeError })
    for (const settle of [...this.#drainWaiters]) settle(err)
  }

  #onClose(): void {
    this.#rejectDrainWaiters()
    this.#deadlines?.clear()
    this.#wakeReader()
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort)
    this.#resolveClosed(this.#closeError)
  }
}
