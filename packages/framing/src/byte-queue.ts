// ByteQueue: input chunks queued for the decoders and readers, in memory that follows the bytes.
import { Buffer } from 'node:buffer'
import { BadLengthError, UsageError } from './errors.ts'
import type { Endian } from './endian.ts'
import { retainedBytes } from './retained.ts'
import { toBuffer } from './to-buffer.ts'

const TWO_32 = 0x1_0000_0000
const MAX_SAFE_HIGH = 0x1f_ffff

// Each new block is as large as the bytes already queued, so blocks at most double what they
// hold, within these bounds. Blocks under 4 KiB come from Node's shared pool, as every small
// Buffer does, so that copying a small piece costs no allocation of its own.
const MIN_BLOCK_BYTES = 256
const MAX_BLOCK_BYTES = 65_536

/**
 * A synchronous queue of chunks with integer and byte reads. Reads within one chunk are views;
 * `take` joins only when its bytes span chunks, `takeUpTo` never does.
 *
 * Memory follows the bytes queued, however they were chunked. A chunk whose bytes are less than
 * half of what it costs (its ArrayBuffer, plus some 500 bytes of objects) is copied into a block
 * of the queue's own once another chunk is queued behind it, or at `compact()`: a 1-byte socket
 * read, or a small slice of a large read. So the queue holds at most about twice its `length`,
 * plus the newest chunk and a few hundred bytes.
 */
export class ByteQueue {
  // Slots are cleared and reused rather than `shift()`ed, which copies on long queues, or the
  // array replaced whenever the queue empties.
  #chunks: (Buffer | undefined)[] = []
  #head = 0
  #count = 0
  #offset = 0
  #length = 0
  // The block small chunks are copied into, filled up to `#blockFill`; dropped when the queue empties.
  #block: Buffer | undefined
  #blockFill = 0
  // Index of the chunk that is a view of the block ending at `#blockFill`, which copies extend; -1 if none.
  #blockChunk = -1
  // The last chunk is an input chunk not worth keeping, still to be copied into the block.
  #looseTail = false

  /**
   * Queues `chunk`. It is kept without copying until another chunk follows; from then on a
   * chunk not worth its memory (see the class) is held as a copy.
   */
  push(chunk: Uint8Array): void {
    const length = chunk.length
    if (length === 0) return
    if (this.#looseTail) this.#compactTail()
    const buf = toBuffer(chunk)
    this.#chunks[this.#count++] = buf
    this.#length += length
    // Kept as it came only if its bytes are at least half of what it holds; else copied. Under
    // 512 bytes that is never so, and the ArrayBuffer need not be looked at.
    this.#looseTail = length < 512 || length * 2 < retainedBytes(buf)
  }

  /** Copies the newest chunk now if it is not worth its memory, rather than when another chunk follows. */
  compact(): void {
    if (this.#looseTail) this.#compactTail()
  }

  /** Bytes queued. */
  get length(): number {
    return this.#length
  }

  /** Takes one byte. Throws `ERR_PROTO_USAGE` when none is queued. */
  u8(): number {
    this.#need(1)
    const chunk = this.#first()
    const value = chunk[this.#offset] ?? 0
    this.#consume(1, chunk)
    return value
  }

  /** Takes a 16-bit unsigned integer, big-endian unless `e` says `'le'`. */
  u16(e: Endian = 'be'): number {
    this.#need(2)
    const chunk = this.#first()
    if (chunk.length - this.#offset >= 2) {
      const value = e === 'be' ? chunk.readUInt16BE(this.#offset) : chunk.readUInt16LE(this.#offset)
      this.#consume(2, chunk)
      return value
    }
    const a = this.u8()
    const b = this.u8()
    return e === 'be' ? (a << 8) | b : (b << 8) | a
  }

  /** Takes a 32-bit unsigned integer, big-endian unless `e` says `'le'`. */
  u32(e: Endian = 'be'): number {
    this.#need(4)
    const chunk = this.#first()
    if (chunk.length - this.#offset >= 4) {
      const value = e === 'be' ? chunk.readUInt32BE(this.#offset) : chunk.readUInt32LE(this.#offset)
      this.#consume(4, chunk)
      return value
    }
    const bytes = this.take(4)
    return e === 'be' ? bytes.readUInt32BE(0) : bytes.readUInt32LE(0)
  }

  /** Takes a 64-bit unsigned integer as a bigint, big-endian unless `e` says `'le'`. */
  u64(e: Endian = 'be'): bigint {
    this.#need(8)
    const [hi, lo] = this.#u64Words(e)
    return (BigInt(hi) << 32n) | BigInt(lo)
  }

  /**
   * A u64 as a number.
   * @throws {BadLengthError} above 2^53 − 1 (the 8 bytes are consumed)
   */
  safeU64(e: Endian = 'be'): number {
    this.#need(8)
    const [hi, lo] = this.#u64Words(e)
    if (hi > MAX_SAFE_HIGH) throw new BadLengthError((BigInt(hi) << 32n) | BigInt(lo))
    return hi * TWO_32 + lo
  }

  /** The next `n` bytes: a view when they lie in one chunk, else one joined copy. */
  take(n: number): Buffer {
    checkCount(n)
    this.#need(n)
    if (n === 0) return Buffer.alloc(0)
    const chunk = this.#first()
    const start = this.#offset
    if (chunk.length - start >= n) {
      this.#consume(n, chunk)
      return chunk.subarray(start, start + n)
    }
    const out = Buffer.allocUnsafe(n)
    this.takeInto(out)
    return out
  }

  /**
   * Moves the next bytes into `target` from `offset` on, until it is full or the queue is empty,
   * and returns how many it moved: a frame built from queued bytes is copied once.
   * @throws {UsageError} when `offset` is not an integer from 0 to `target.length`
   */
  takeInto(target: Uint8Array, offset = 0): number {
    checkCount(offset)
    if (offset > target.length) {
      throw new UsageError(`offset ${offset} is past the end of a target of ${target.length} bytes`)
    }
    const n = Math.min(this.#length, target.length - offset)
    let done = 0
    while (done < n) {
      const chunk = this.#first()
      const start = this.#offset
      const count = Math.min(n - done, chunk.length - start)
      target.set(count === chunk.length ? chunk : chunk.subarray(start, start + count), offset + done)
      this.#consume(count, chunk)
      done += count
    }
    return n
  }

  /** At most `n` bytes from the first chunk, as a view; empty when nothing is queued. */
  takeUpTo(n: number): Buffer {
    checkCount(n)
    if (this.#length === 0 || n === 0) return Buffer.alloc(0)
    const chunk = this.#first()
    const start = this.#offset
    const count = Math.min(n, chunk.length - start)
    this.#consume(count, chunk)
    return count === chunk.length ? chunk : chunk.subarray(start, start + count)
  }

  /** Drops the next `n` bytes. */
  skip(n: number): void {
    checkCount(n)
    this.#need(n)
    let left = n
    while (left > 0) {
      const chunk = this.#first()
      const count = Math.min(left, chunk.length - this.#offset)
      this.#consume(count, chunk)
      left -= count
    }
  }

  #u64Words(e: Endian): [number, number] {
    const a = this.u32(e)
    const b = this.u32(e)
    return e === 'be' ? [a, b] : [b, a]
  }

  #need(n: number): void {
    if (n > this.#length) throw new UsageError(`read of ${n} bytes with ${this.#length} queued`)
  }

  #first(): Buffer {
    const chunk = this.#chunks[this.#head]
    if (chunk === undefined) throw new UsageError('read from an empty ByteQueue')
    return chunk
  }

  /** Consumes `n` bytes of `chunk`, the first chunk, which holds at least that many. */
  #consume(n: number, chunk: Buffer): void {
    this.#offset += n
    this.#length -= n
    if (this.#offset < chunk.length) return
    this.#offset = 0
    this.#chunks[this.#head++] = undefined
    if (this.#head === this.#count) {
      // A long queue once does not keep its long array.
      if (this.#chunks.length > 1024) this.#chunks = []
      this.#head = 0
      this.#count = 0
      this.#block = undefined
      this.#blockFill = 0
      this.#blockChunk = -1
      this.#looseTail = false
    } else if (this.#head >= 1024) {
      this.#chunks = this.#chunks.slice(this.#head, this.#count)
      this.#count -= this.#head
      this.#blockChunk -= this.#head
      this.#head = 0
    }
  }

  /** Replaces the last chunk, an input chunk not worth keeping, by a copy of its unread bytes. */
  #compactTail(): void {
    this.#looseTail = false
    const chunks = this.#chunks
    const chunk = chunks[--this.#count] as Buffer
    chunks[this.#count] = undefined
    let start = 0
    if (this.#count === this.#head) {
      start = this.#offset
      this.#offset = 0
    }
    while (start < chunk.length) {
      let block = this.#block
      let fill = this.#blockFill
      if (block === undefined || fill === block.length) {
        // The first block since the queue was empty is just the size of the piece: most often it
        // is the one piece held (the start of a frame the next chunk completes), and the queue
        // empties before anything follows it.
        const rest = chunk.length - start
        const grown = Math.min(MAX_BLOCK_BYTES, Math.max(MIN_BLOCK_BYTES, this.#length))
        block = this.#block = Buffer.allocUnsafe(block === undefined ? rest : Math.max(rest, grown))
        fill = 0
        this.#blockChunk = -1
      }
      const count = Math.min(block.length - fill, chunk.length - start)
      block.set(count === chunk.length ? chunk : chunk.subarray(start, start + count), fill)
      const at = this.#blockChunk
      if (at === this.#count - 1 && at >= this.#head) {
        const view = chunks[at] as Buffer
        chunks[at] = block.subarray(fill - view.length, fill + count)
      } else {
        this.#blockChunk = this.#count
        chunks[this.#count++] = count === block.length ? block : block.subarray(fill, fill + count)
      }
      this.#blockFill = fill + count
      start += count
    }
  }
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`byte count must be a non-negative integer, got ${String(n)}`)
  }
}
