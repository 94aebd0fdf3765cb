// ByteReader: integer and byte reads pulled from an async source, and FieldStream for a field too large to hold.
import type { Buffer } from 'node:buffer'
import { Readable } from 'node:stream'
import { ByteQueue } from './byte-queue.ts'
import { DEFAULT_FIELD_HIGH_WATER_MARK, DEFAULT_MAX_READ_BYTES } from './constants.ts'
import { FrameTooLargeError, TruncatedFrameError, UsageError } from './errors.ts'
import { raceAbort, rejectWith } from './iterate.ts'
import type { Endian } from './endian.ts'
import { checkLimit } from './options.ts'

/** Options of `ByteReader`. */
export interface ByteReaderInit {
  /** Largest `bytes(n)` read, which is held in memory whole. @default 16_777_216 */
  maxReadBytes?: number | undefined
  /** Aborting rejects the pending and later reads with `signal.reason`. @default undefined */
  signal?: AbortSignal | undefined
}

/** Options of `FieldStream.readable()`. */
export interface FieldReadableOptions {
  /** Bytes the Readable buffers ahead of its consumer. @default 65_536 */
  highWaterMark?: number | undefined
}

/** A field of known size, read piece by piece and never buffered whole. */
export interface FieldStream extends AsyncIterable<Buffer> {
  /** The field's size in bytes. */
  readonly size: number
  /** Bytes not yet read. */
  readonly remaining: number
  /** The rest of the field as a Node Readable. */
  readable(opts?: FieldReadableOptions): Readable
  /** Drops the rest of the field without holding it. */
  skip(): Promise<void>
}

/**
 * Reads integers, byte runs and streamed fields from an async source, pulling a chunk only when
 * a read needs bytes: an unread field leaves the source paused.
 */
export class ByteReader {
  readonly #iterator: AsyncIterator<Uint8Array>
  readonly #queue = new ByteQueue()
  readonly #maxReadBytes: number
  readonly #signal: AbortSignal | undefined
  #position = 0
  #done = false
  #field: Field | undefined
  // Reads run one after another; a read issued while another waits queues behind it.
  #tail: Promise<unknown> = Promise.resolve()
  #busy = 0

  constructor(source: AsyncIterable<Uint8Array>, init?: ByteReaderInit) {
    this.#iterator = source[Symbol.asyncIterator]()
    this.#maxReadBytes = checkLimit('maxReadBytes', init?.maxReadBytes, DEFAULT_MAX_READ_BYTES, 0)
    this.#signal = init?.signal
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.#position
  }

  /** One byte, once it has arrived. */
  u8(): Promise<number> {
    return this.#read(1, () => this.#queue.u8())
  }

  /** A 16-bit unsigned integer, big-endian unless `e` says `'le'`, once its bytes have arrived. */
  u16(e?: Endian): Promise<number> {
    return this.#read(2, () => this.#queue.u16(e))
  }

  /** A 32-bit unsigned integer, big-endian unless `e` says `'le'`, once its bytes have arrived. */
  u32(e?: Endian): Promise<number> {
    return this.#read(4, () => this.#queue.u32(e))
  }

  /** A 64-bit unsigned integer as a bigint, big-endian unless `e` says `'le'`, once its bytes have arrived. */
  u64(e?: Endian): Promise<bigint> {
    return this.#read(8, () => this.#queue.u64(e))
  }

  /** A u64 as a number; `BadLengthError` above 2^53 − 1. */
  safeU64(e?: Endian): Promise<number> {
    return this.#read(8, () => this.#queue.safeU64(e))
  }

  /**
   * The next `n` bytes, held whole.
   * @throws {FrameTooLargeError} when `n` is over `maxReadBytes`, before reading anything
   */
  bytes(n: number): Promise<Buffer> {
    try {
      checkCount(n)
      if (n > this.#maxReadBytes) throw new FrameTooLargeError(n, this.#maxReadBytes)
    } catch (err) {
      return rejectWith(err)
    }
    return this.#read(n, () => this.#queue.take(n))
  }

  /** Drops the next `n` bytes without holding them. */
  skip(n: number): Promise<void> {
    try {
      checkCount(n)
    } catch (err) {
      return rejectWith(err)
    }
    return this.#serial(async () => {
      let left = n
      while (left > 0) {
        if (this.#queue.length === 0 && !(await this.#pull())) {
          throw new TruncatedFrameError(n - left, n)
        }
        const count = Math.min(left, this.#queue.length)
        this.#queue.skip(count)
        this.#position += count
        left -= count
      }
    })
  }

  /** True when the source is finished and every byte has been read. */
  atEnd(): Promise<boolean> {
    return this.#serial(async () => {
      while (this.#queue.length === 0) {
        if (!(await this.#pull())) return true
      }
      return false
    })
  }

  /**
   * The next `n` bytes as a stream of pieces, never buffered whole. Until it is consumed or
   * skipped, other reads reject with `UsageError`.
   */
  stream(n: number): FieldStream {
    checkCount(n)
    this.#checkNoField()
    const field: Field = new Field(n, (max) => this.#fieldPiece(field, max))
    if (n > 0) this.#field = field
    return field
  }

  /** The next piece of the open field: at most `max` bytes, as a view. */
  #fieldPiece(field: Field, max: number): Promise<Buffer> {
    return this.#serial(async () => {
      if (this.#field !== field) throw new UsageError('this field is no longer open')
      while (this.#queue.length === 0) {
        if (!(await this.#pull())) {
          this.#field = undefined
          throw new TruncatedFrameError(field.size - field.remaining, field.size)
        }
      }
      const piece = this.#queue.takeUpTo(max)
      this.#position += piece.length
      if (piece.length === max) this.#field = undefined
      return piece
    }, true)
  }

  #read<V>(n: number, take: () => V): Promise<V> {
    if (this.#busy === 0 && this.#field === undefined && this.#queue.length >= n && !(this.#signal?.aborted ?? false)) {
      try {
        const value = take()
        this.#position += n
        return Promise.resolve(value)
      } catch (err) {
        return rejectWith(err)
      }
    }
    return this.#serial(async () => {
      while (this.#queue.length < n) {
        if (!(await this.#pull())) throw new TruncatedFrameError(this.#queue.length, n)
      }
      const value = take()
      this.#position += n
      return value
    })
  }

  #serial<V>(work: () => Promise<V>, inField = false): Promise<V> {
    this.#busy += 1
    const run = async (): Promise<V> => {
      try {
        this.#signal?.throwIfAborted()
        if (!inField) this.#checkNoField()
        return await work()
      } finally {
        this.#busy -= 1
      }
    }
    const result = this.#tail.then(run, run)
    this.#tail = result.catch(() => undefined)
    return result
  }

  #checkNoField(): void {
    if (this.#field !== undefined) {
      throw new UsageError('a field stream is open: consume or skip it before reading on')
    }
  }

  /** Pulls one chunk into the queue; false when the source is finished. */
  async #pull(): Promise<boolean> {
    if (this.#done) return false
    const next = this.#signal === undefined ? this.#iterator.next() : raceAbort(this.#iterator.next(), this.#signal)
    const result = await next
    if (result.done === true) {
      this.#done = true
      return false
    }
    this.#queue.push(result.value)
    return true
  }
}

class Field implements FieldStream {
  readonly size: number
  #remaining: number
  readonly #piece: (max: number) => Promise<Buffer>

  constructor(size: number, piece: (max: number) => Promise<Buffer>) {
    this.size = size
    this.#remaining = size
    this.#piece = piece
  }

  get remaining(): number {
    return this.#remaining
  }

  async next(): Promise<IteratorResult<Buffer, undefined>> {
    if (this.#remaining === 0) return { done: true, value: undefined }
    const piece = await this.#piece(this.#remaining)
    this.#remaining -= piece.length
    return { done: false, value: piece }
  }

  async skip(): Promise<void> {
    while (this.#remaining > 0) await this.next()
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer, undefined> {
    return {
      next: () => this.next(),
      // Leaving `for await` early skips the rest, so the reader can go on.
      return: async () => {
        await this.skip()
        return { done: true, value: undefined }
      },
    }
  }

  readable(opts?: FieldReadableOptions): Readable {
    const highWaterMark = checkLimit('highWaterMark', opts?.highWaterMark, DEFAULT_FIELD_HIGH_WATER_MARK)
    const readable = new Readable({
      highWaterMark,
      read: () => {
        this.next().then(
          (result) => {
            readable.push(result.done === true ? null : result.value)
          },
          (err: unknown) => {
            readable.destroy(err as Error)
          },
        )
      },
    })
    return readable
  }
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`byte count must be a non-negative integer, got ${String(n)}`)
  }
}
