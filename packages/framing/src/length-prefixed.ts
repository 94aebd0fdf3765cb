// Length-prefixed frames: the prefix layouts, LengthPrefixedDecoder and the encoders.
import { Buffer } from 'node:buffer'
import { ByteQueue } from './byte-queue.ts'
import { DEFAULT_MAX_FRAME_BYTES } from './constants.ts'
import type { Endian } from './endian.ts'
import { BadLengthError, FrameTooLargeError, TruncatedFrameError, UsageError } from './errors.ts'
import type { ProtoError } from './errors.ts'
import type { FrameDecoder } from './iterate.ts'
import { checkLimit } from './options.ts'
import { toBuffer } from './to-buffer.ts'

/** How a length prefix is laid out. */
export interface LengthPrefixInit {
  /** Width of the prefix. @default 4 */
  prefixBytes?: 1 | 2 | 4 | 8 | undefined
  /** Byte order of the prefix. @default 'be' */
  endian?: Endian | undefined
  /** The prefix counts itself. @default false */
  lengthIncludesPrefix?: boolean | undefined
  /** Added to the prefix value to give the payload length. @default 0 */
  lengthAdjustment?: number | undefined
  /** Largest payload accepted or encoded. @default 16_777_216 */
  maxFrameBytes?: number | undefined
  /** Decoders return copies instead of views of the input chunks. @default false */
  copy?: boolean | undefined
}

const TWO_32 = 0x1_0000_0000
const MAX_SAFE = Number.MAX_SAFE_INTEGER
// A payload up to this size gets its own buffer with its first bytes, whatever they number.
const SMALL_FRAME_BYTES = 4096

type ReadPrefix = (buf: Buffer, offset: number) => number

interface Layout {
  prefixBytes: 1 | 2 | 4 | 8
  read: ReadPrefix
  /** Subtracted from the prefix value to give the payload length. */
  bias: number
  maxFrameBytes: number
  endian: Endian
}

function layout(init: LengthPrefixInit | undefined): Layout {
  const prefixBytes = init?.prefixBytes ?? 4
  const endian = init?.endian ?? 'be'
  if (endian !== 'be' && endian !== 'le') throw new UsageError(`endian must be 'be' or 'le', got ${String(endian)}`)
  const adjustment = init?.lengthAdjustment ?? 0
  if (!Number.isSafeInteger(adjustment)) {
    throw new UsageError(`lengthAdjustment must be a safe integer, got ${String(adjustment)}`)
  }
  let read: ReadPrefix
  switch (prefixBytes) {
    case 1:
      read = (buf, at) => buf[at] ?? 0
      break
    case 2:
      read = endian === 'be' ? (buf, at) => buf.readUInt16BE(at) : (buf, at) => buf.readUInt16LE(at)
      break
    case 4:
      read = endian === 'be' ? (buf, at) => buf.readUInt32BE(at) : (buf, at) => buf.readUInt32LE(at)
      break
    case 8:
      read = endian === 'be' ? readU64BE : readU64LE
      break
    default:
      throw new UsageError(`prefixBytes must be 1, 2, 4 or 8, got ${String(prefixBytes)}`)
  }
  return {
    prefixBytes,
    read,
    bias: (init?.lengthIncludesPrefix === true ? prefixBytes : 0) - adjustment,
    maxFrameBytes: checkLimit('maxFrameBytes', init?.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 0),
    endian,
  }
}

// Values above 2^53 − 1 come back rounded, which is still above every limit.
function readU64BE(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4)
}

function readU64LE(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 4) * TWO_32 + buf.readUInt32LE(at)
}

/** Splits input into payloads, each announced by a length prefix. Payloads come without it. */
export class LengthPrefixedDecoder implements FrameDecoder {
  readonly #layout: Layout
  readonly #copy: boolean
  // A prefix split across chunks is gathered here; it is at most 8 bytes.
  readonly #header: Buffer
  #headerFill = 0
  // Payload length of the unfinished frame, or -1 while its prefix is incomplete.
  #frameLength = -1
  // The payload received so far: in a queue, where small pieces are copied together, until it is
  // half the declared length (or the payload is small); from then on in the payload's own
  // buffer, so memory stays within twice the bytes received and the payload is copied once.
  readonly #pending = new ByteQueue()
  #frame: Buffer | undefined
  #frameFill = 0
  #error: ProtoError | undefined

  constructor(init?: LengthPrefixInit) {
    this.#layout = layout(init)
    this.#copy = init?.copy ?? false
    this.#header = Buffer.alloc(this.#layout.prefixBytes)
  }

  get buffered(): number {
    return this.#headerFill + this.#payloadReceived()
  }

  get error(): ProtoError | undefined {
    return this.#error
  }

  push(chunk: Uint8Array): Buffer[] {
    if (this.#error !== undefined) throw this.#error
    const buf = toBuffer(chunk)
    const frames: Buffer[] = []
    const length = buf.length
    let at = 0
    if (this.#headerFill > 0 || this.#frameLength >= 0) {
      at = this.#continue(buf, frames)
      if (at < 0) return frames
    }
    const { prefixBytes, read, bias, maxFrameBytes } = this.#layout
    const copy = this.#copy
    while (length - at >= prefixBytes) {
      const value = read(buf, at)
      const size = value - bias
      if (size < 0 || size > maxFrameBytes || value > MAX_SAFE) return this.#fail(frames, value)
      const start = at + prefixBytes
      const end = start + size
      if (end > length) {
        this.#frameLength = size
        if (start < length) this.#hold(buf.subarray(start))
        return frames
      }
      frames.push(copy ? Buffer.from(buf.subarray(start, end)) : buf.subarray(start, end))
      at = end
    }
    if (at < length) {
      buf.copy(this.#header, 0, at)
      this.#headerFill = length - at
    }
    return frames
  }

  end(): Buffer[] {
    if (this.#error !== undefined) throw this.#error
    if (this.#headerFill === 0 && this.#frameLength < 0) return []
    const prefixBytes = this.#layout.prefixBytes
    const framed = this.#frameLength >= 0
    const received = framed ? prefixBytes + this.#payloadReceived() : this.#headerFill
    const expected = framed ? prefixBytes + this.#frameLength : undefined
    this.#reset()
    throw (this.#error = new TruncatedFrameError(received, expected))
  }

  /**
   * Completes the prefix and payload left by earlier chunks. Returns where the next frame starts
   * in `buf`, or -1 when `buf` is used up (or the decoder failed).
   */
  #continue(buf: Buffer, frames: Buffer[]): number {
    let at = 0
    if (this.#frameLength < 0) {
      const { prefixBytes, read, bias, maxFrameBytes } = this.#layout
      const need = prefixBytes - this.#headerFill
      const n = Math.min(need, buf.length)
      buf.copy(this.#header, this.#headerFill, 0, n)
      this.#headerFill += n
      if (n < need) return -1
      const value = read(this.#header, 0)
      const size = value - bias
      this.#headerFill = 0
      if (size < 0 || size > maxFrameBytes || value > MAX_SAFE) {
        this.#fail(frames, value)
        return -1
      }
      this.#frameLength = size
      at = n
    }
    const had = this.#payloadReceived()
    const missing = this.#frameLength - had
    if (buf.length - at < missing) {
      if (buf.length > at) this.#hold(at === 0 ? buf : buf.subarray(at))
      return -1
    }
    const end = at + missing
    let frame: Buffer
    if (had === 0) {
      frame = this.#copy ? Buffer.from(buf.subarray(at, end)) : buf.subarray(at, end)
    } else {
      frame = this.#frame ?? this.#ownBuffer()
      frame.set(buf.subarray(at, end), had)
      this.#frame = undefined
      this.#frameFill = 0
    }
    frames.push(frame)
    this.#frameLength = -1
    return end
  }

  #payloadReceived(): number {
    return this.#frame === undefined ? this.#pending.length : this.#frameFill
  }

  /** Keeps a piece of the unfinished payload, never as a view that pins more than it holds. */
  #hold(piece: Buffer): void {
    let frame = this.#frame
    if (frame === undefined) {
      const received = this.#pending.length + piece.length
      if (this.#frameLength > Math.max(2 * received, SMALL_FRAME_BYTES)) {
        this.#pending.push(piece)
        this.#pending.compact()
        return
      }
      frame = this.#frame = this.#ownBuffer()
    }
    frame.set(piece, this.#frameFill)
    this.#frameFill += piece.length
  }

  /** The payload's own buffer, holding what the queue held. */
  #ownBuffer(): Buffer {
    const frame = Buffer.allocUnsafe(this.#frameLength)
    this.#frameFill = this.#pending.takeInto(frame)
    return frame
  }

  /** Fails on the prefix `value`, whose length is negative or over the limit. */
  #fail(frames: Buffer[], value: number): Buffer[] {
    this.#reset()
    const size = value - this.#layout.bias
    this.#error =
      size < 0 && value <= MAX_SAFE
        ? new BadLengthError(size)
        : new FrameTooLargeError(value > MAX_SAFE ? value : size, this.#layout.maxFrameBytes)
    if (frames.length === 0) throw this.#error
    return frames
  }

  #reset(): void {
    this.#headerFill = 0
    this.#frameLength = -1
    this.#pending.skip(this.#pending.length)
    this.#frame = undefined
    this.#frameFill = 0
  }
}

/**
 * The prefix announcing a payload of `payloadLength` bytes, without the payload.
 * @throws {FrameTooLargeError} when the prefix cannot hold the length or it is over `maxFrameBytes`
 */
export function encodeLengthPrefix(payloadLength: number, init?: LengthPrefixInit): Buffer {
  const l = layout(init)
  const out = Buffer.allocUnsafe(l.prefixBytes)
  writePrefix(out, payloadLength, l)
  return out
}

/**
 * `payload` behind its length prefix, in one Buffer.
 * @throws {FrameTooLargeError} when the prefix cannot hold the length or it is over `maxFrameBytes`
 */
export function encodeLengthPrefixed(payload: Uint8Array, init?: LengthPrefixInit): Buffer {
  const l = layout(init)
  const out = Buffer.allocUnsafe(l.prefixBytes + payload.length)
  writePrefix(out, payload.length, l)
  out.set(payload, l.prefixBytes)
  return out
}

const PREFIX_MAX = { 1: 0xff, 2: 0xffff, 4: 0xffff_ffff, 8: Number.MAX_SAFE_INTEGER } as const

function writePrefix(out: Buffer, payloadLength: number, l: Layout): void {
  if (!Number.isSafeInteger(payloadLength) || payloadLength < 0) {
    throw new UsageError(`payload length must be a non-negative integer, got ${String(payloadLength)}`)
  }
  if (payloadLength > l.maxFrameBytes) throw new FrameTooLargeError(payloadLength, l.maxFrameBytes)
  const value = payloadLength + l.bias
  if (value < 0) throw new BadLengthError(value)
  const max = PREFIX_MAX[l.prefixBytes]
  if (value > max) throw new FrameTooLargeError(payloadLength, max - l.bias)
  const be = l.endian === 'be'
  switch (l.prefixBytes) {
    case 1:
      out[0] = value
      break
    case 2:
      if (be) out.writeUInt16BE(value, 0)
      else out.writeUInt16LE(value, 0)
      break
    case 4:
      if (be) out.writeUInt32BE(value, 0)
      else out.writeUInt32LE(value, 0)
      break
    case 8: {
      const hi = Math.floor(value / TWO_32)
      const lo = value % TWO_32
      if (be) {
        out.writeUInt32BE(hi, 0)
        out.writeUInt32BE(lo, 4)
      } else {
        out.writeUInt32LE(lo, 0)
        out.writeUInt32LE(hi, 4)
      }
      break
    }
  }
}
