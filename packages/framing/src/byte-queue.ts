import { Buffer } from 'node:buffer'
import { BadLengthError, UsageError } from './errors.ts'
import type { Endian } from './length-prefixed.ts'
import { toBuffer } from './to-buffer.ts'

const TWO_32 = 0x1_0000_0000
const MAX_SAFE_HIGH = 0x1f_ffff

/**
 * A synchronous queue of chunks with integer and byte reads. Reads within one chunk are views;
 * `take` joins only when its bytes span chunks, `takeUpTo` never does.
 */
export class ByteQueue {
  #chunks: Buffer[] = []
  // Consumed chunks are dropped by index rather than `shift()`, which copies on long queues.
  #head = 0
  #offset = 0
  #length = 0

  /** Queues `chunk` without copying it. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.#chunks.push(toBuffer(chunk))
    this.#length += chunk.length
  }

  /** Bytes queued. */
  get length(): number {
    return this.#length
  }

  u8(): number {
    this.#need(1)
    const chunk = this.#first()
    const value = chunk[this.#offset] ?? 0
    this.#consume(1, chunk)
    return value
  }

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
    let filled = 0
    while (filled < n) {
      const piece = this.takeUpTo(n - filled)
      out.set(piece, filled)
      filled += piece.length
    }
    return out
  }

  /** At most `n` bytes from the first chunk, as a view; empty when nothing is queued. */
  takeUpTo(n: number): Buffer {
    checkCount(n)
    if (this.#length === 0 || n === 0) return Buffer.alloc(0)
    const chunk = this.#first()
    const start = this.#offset
    const count = Math.min(n, chunk.length - start)
    this.#consume(count, chunk)
    return chunk.subarray(start, start + count)
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
    this.#head += 1
    if (this.#head === this.#chunks.length) {
      this.#chunks = []
      this.#head = 0
    } else if (this.#head >= 1024) {
      this.#chunks = this.#chunks.slice(this.#head)
      this.#head = 0
    }
  }
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`byte count must be a non-negative integer, got ${String(n)}`)
  }
}
