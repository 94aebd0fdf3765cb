// GzipMemberDecoder: RFC 1952 gzip members, each one frame, stored blocks copied and the rest inflated within the limits.
import { Buffer, constants } from 'node:buffer'
import zlib from 'node:zlib'
import { DEFAULT_MAX_COMPRESSED_BYTES, DEFAULT_MAX_FRAME_BYTES } from './constants.ts'
import { FrameTooLargeError, InvalidFrameError, TruncatedFrameError } from './errors.ts'
import type { ProtoError } from './errors.ts'
import type { AsyncFrameDecoder } from './iterate.ts'
import { checkLimit } from './options.ts'
import { toBuffer } from './to-buffer.ts'

/** Options of `GzipMemberDecoder`. */
export interface GzipMemberDecoderInit {
  /** Largest decompressed member. @default 16_777_216 */
  maxFrameBytes?: number | undefined
  /** Largest compressed member, header and trailer included. @default 16_777_216 */
  maxCompressedBytes?: number | undefined
}

const FHCRC = 0x02
const FEXTRA = 0x04
const FNAME = 0x08
const FCOMMENT = 0x10
const FRESERVED = 0xe0
const FIXED_HEADER = 10
const TRAILER = 8

// Deflate block types (RFC 1951 §3.2.3): stored blocks are copied, any other is inflated.
const STORED = 0
// A stored block's header: the byte holding BFINAL and BTYPE, then LEN and NLEN (u16 LE).
const STORED_HEADER = 5
// The most history a deflate block may refer back to (RFC 1951 §3.2.5).
const WINDOW = 32_768
// Output a streaming inflater hands back at a time.
const INFLATE_CHUNK = 256 * 1024

// Header parts in the order RFC 1952 lays them out; each is skipped when its flag is clear. The
// body is either stored blocks (BLOCK, STORED, again) or handed to zlib from its first other
// block on (INFLATE).
const Phase = {
  FIXED: 0,
  XLEN: 1,
  EXTRA: 2,
  NAME: 3,
  COMMENT: 4,
  HCRC: 5,
  BLOCK: 6,
  STORED: 7,
  INFLATE: 8,
  TRAILER: 9,
} as const
type Phase = (typeof Phase)[keyof typeof Phase]

const EMPTY = Buffer.alloc(0)

/**
 * The output of one member, copied into a few blocks whatever the size of the pieces it arrives
 * in: a piece of one byte must not cost an object of its own. Each new block is as large as all
 * the blocks before it (or the piece, if larger), so what is held stays under twice what was
 * written, and never above the frame limit.
 */
class Output {
  readonly #limit: number
  readonly #full: Buffer[] = []
  #block: Buffer = EMPTY
  #filled = 0
  #length = 0

  constructor(limit: number) {
    this.#limit = limit
  }

  get length(): number {
    return this.#length
  }

  /**
   * Copies `bytes` in. `expected` is how many bytes are sure to come, these included (the rest
   * of a stored block), so that they get one block. The caller has checked them against the limit.
   */
  append(bytes: Buffer, expected = bytes.length): void {
    let from = 0
    while (from < bytes.length) {
      if (this.#filled === this.#block.length) this.#grow(Math.max(expected, bytes.length) - from)
      const copied = bytes.copy(this.#block, this.#filled, from)
      this.#filled += copied
      this.#length += copied
      from += copied
    }
  }

  /** Takes `bytes` over without a copy: zlib's output of a whole body, which nothing else holds. */
  adopt(bytes: Buffer): void {
    if (this.#length > 0) {
      this.append(bytes)
      return
    }
    this.#block = bytes
    this.#filled = bytes.length
    this.#length = bytes.length
  }

  /** The last `n` bytes (or all, if fewer): the history a deflate block after them may refer to. */
  tail(n: number): Buffer {
    const parts: Buffer[] = []
    let want = Math.min(n, this.#length)
    const all = [...this.#full, this.#block.subarray(0, this.#filled)]
    for (let i = all.length - 1; i >= 0 && want > 0; i--) {
      const part = all[i] ?? EMPTY
      const take = Math.min(want, part.length)
      parts.unshift(part.subarray(part.length - take))
      want -= take
    }
    return Buffer.concat(parts)
  }

  /** The whole output as one Buffer; the output is then empty. */
  take(): Buffer {
    const last = this.#block.subarray(0, this.#filled)
    const frame = this.#full.length === 0 ? last : Buffer.concat([...this.#full, last], this.#length)
    this.clear()
    return frame
  }

  clear(): void {
    this.#full.length = 0
    this.#block = EMPTY
    this.#filled = 0
    this.#length = 0
  }

  #grow(want: number): void {
    if (this.#filled > 0) this.#full.push(this.#block)
    const size = this.#length === 0 ? want : Math.max(want, Math.min(this.#length, this.#limit - this.#length))
    this.#block = Buffer.allocUnsafe(size)
    this.#filled = 0
  }
}

/**
 * Decompresses a stream of RFC 1952 gzip members, each one frame, however the members are split
 * or coalesced. After a fault, start a new decoder at the next chunk to go on.
 */
export class GzipMemberDecoder implements AsyncFrameDecoder {
  readonly #maxFrameBytes: number
  readonly #maxCompressedBytes: number
  #phase: Phase = Phase.FIXED
  // Scratch for the fixed header, XLEN, header CRC, stored block headers and trailer, which may
  // arrive split.
  readonly #scratch = Buffer.alloc(FIXED_HEADER)
  #fill = 0
  #flags = 0
  #extraLeft = 0
  #headerCrc = 0
  // Compressed bytes of the current member taken so far.
  #member = 0
  // Bytes of the current stored block still to copy, and whether it is the member's last block.
  #storedLeft = 0
  #final = false
  readonly #output: Output
  #inflater: zlib.InflateRaw | undefined
  // Body bytes written to the inflater of the current member.
  #fed = 0
  #bodyError: ProtoError | undefined
  #settle: (() => void) | undefined
  #error: ProtoError | undefined
  #tail: Promise<unknown> = Promise.resolve()

  constructor(init?: GzipMemberDecoderInit) {
    this.#maxFrameBytes = checkLimit('maxFrameBytes', init?.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 0)
    this.#maxCompressedBytes = checkLimit(
      'maxCompressedBytes',
      init?.maxCompressedBytes,
      DEFAULT_MAX_COMPRESSED_BYTES,
      FIXED_HEADER + TRAILER,
    )
    this.#output = new Output(this.#maxFrameBytes)
  }

  /** Compressed bytes of the unfinished member. */
  get buffered(): number {
    return this.#member + this.#fed
  }

  /** The fault that stopped this decoder; it rejects with it from then on. */
  get error(): ProtoError | undefined {
    return this.#error
  }

  /** The members this chunk completes, inflated, in order. Calls run one after another. */
  push(chunk: Uint8Array): Promise<Buffer[]> {
    return this.#serial(() => this.#push(toBuffer(chunk)))
  }

  /** The input is finished: rejects with a `TruncatedFrameError` if a member is unfinished. */
  end(): Promise<Buffer[]> {
    return this.#serial(() => {
      if (this.#phase === Phase.FIXED && this.#fill === 0) return Promise.resolve([])
      const received = this.#member + this.#fed
      this.#drop()
      return Promise.reject((this.#error = new TruncatedFrameError(received)))
    })
  }

  #serial(work: () => Promise<Buffer[]>): Promise<Buffer[]> {
    const run = (): Promise<Buffer[]> => {
      if (this.#error !== undefined) return Promise.reject(this.#error)
      return work()
    }
    const result = this.#tail.then(run, run)
    this.#tail = result.catch(() => undefined)
    return result
  }

  async #push(buf: Buffer): Promise<Buffer[]> {
    const frames: Buffer[] = []
    let at = 0
    try {
      while (at < buf.length) {
        switch (this.#phase) {
          case Phase.BLOCK:
            at = this.#block(buf, at)
            break
          case Phase.STORED:
            at = this.#stored(buf, at)
            break
          case Phase.INFLATE: {
            const body = buf.subarray(at)
            // A body whole in this chunk is inflated at once; only one split across chunks pays
            // for a streaming inflater and its thread-pool round trips.
            const used = this.#inflater === undefined ? this.#inflateWhole(body) : -1
            at += used >= 0 ? used : await this.#inflate(body)
            break
          }
          case Phase.TRAILER:
            at = this.#trailer(buf, at, frames)
            break
          case Phase.FIXED:
          case Phase.XLEN:
          case Phase.EXTRA:
          case Phase.NAME:
          case Phase.COMMENT:
          case Phase.HCRC:
            at = this.#header(buf, at)
            break
        }
      }
    } catch (err) {
      this.#drop()
      this.#error = err as ProtoError
      if (frames.length === 0) throw err
    }
    return frames
  }

  #count(n: number): void {
    this.#member += n
    if (this.#member > this.#maxCompressedBytes) {
      throw new FrameTooLargeError(this.#member, this.#maxCompressedBytes)
    }
  }

  /** Parses header bytes from `buf[at...]`; returns where it stopped. */
  #header(buf: Buffer, at: number): number {
    const start = at
    switch (this.#phase) {
      case Phase.FIXED: {
        const before = this.#fill
        at += this.#gather(buf, at, FIXED_HEADER)
        // Each byte is checked as it arrives, so a short non-gzip chunk fails by itself rather
        // than waiting for, and then spoiling, the member after it.
        const h = this.#scratch
        if (before < 1 && this.#fill >= 1 && h[0] !== 0x1f) throw new InvalidFrameError('not a gzip member: bad magic bytes')
        if (before < 2 && this.#fill >= 2 && h[1] !== 0x8b) throw new InvalidFrameError('not a gzip member: bad magic bytes')
        if (before < 3 && this.#fill >= 3 && h[2] !== 8) {
          throw new InvalidFrameError(`unsupported gzip compression method ${String(h[2])}`)
        }
        if (before < 4 && this.#fill >= 4 && ((h[3] ?? 0) & FRESERVED) !== 0) {
          throw new InvalidFrameError('gzip header sets reserved flags')
        }
        if (this.#fill < FIXED_HEADER) break
        this.#flags = h[3] ?? 0
        if ((this.#flags & FHCRC) !== 0) this.#headerCrc = zlib.crc32(h)
        this.#fill = 0
        this.#phase = (this.#flags & FEXTRA) !== 0 ? Phase.XLEN : this.#after(Phase.EXTRA)
        break
      }
      case Phase.XLEN: {
        at += this.#gather(buf, at, 2)
        if (this.#fill < 2) break
        this.#crc(this.#scratch.subarray(0, 2))
        this.#extraLeft = this.#scratch.readUInt16LE(0)
        this.#fill = 0
        this.#phase = this.#extraLeft > 0 ? Phase.EXTRA : this.#after(Phase.EXTRA)
        break
      }
      case Phase.EXTRA: {
        const n = Math.min(this.#extraLeft, buf.length - at)
        this.#crc(buf.subarray(at, at + n))
        this.#extraLeft -= n
        at += n
        if (this.#extraLeft === 0) this.#phase = this.#after(Phase.EXTRA)
        break
      }
      case Phase.NAME:
      case Phase.COMMENT: {
        const zero = buf.indexOf(0, at)
        const end = zero === -1 ? buf.length : zero + 1
        this.#crc(buf.subarray(at, end))
        at = end
        if (zero !== -1) this.#phase = this.#after(this.#phase)
        break
      }
      case Phase.HCRC: {
        at += this.#gather(buf, at, 2)
        if (this.#fill < 2) break
        if (this.#scratch.readUInt16LE(0) !== (this.#headerCrc & 0xffff)) {
          throw new InvalidFrameError('gzip header CRC does not match')
        }
        this.#fill = 0
        this.#phase = Phase.BLOCK
        break
      }
      case Phase.BLOCK:
      case Phase.STORED:
      case Phase.INFLATE:
      case Phase.TRAILER:
        break
    }
    this.#count(at - start)
    return at
  }

  /** The phase after `phase`, skipping the optional parts whose flag is clear. */
  #after(phase: Phase): Phase {
    if (phase < Phase.NAME && (this.#flags & FNAME) !== 0) return Phase.NAME
    if (phase < Phase.COMMENT && (this.#flags & FCOMMENT) !== 0) return Phase.COMMENT
    if (phase < Phase.HCRC && (this.#flags & FHCRC) !== 0) return Phase.HCRC
    return Phase.BLOCK
  }

  #crc(bytes: Buffer): void {
    if ((this.#flags & FHCRC) !== 0) this.#headerCrc = zlib.crc32(bytes, this.#headerCrc)
  }

  /** Copies up to `want − fill` bytes into the scratch; returns how many. */
  #gather(buf: Buffer, at: number, want: number): number {
    const n = Math.min(want - this.#fill, buf.length - at)
    buf.copy(this.#scratch, this.#fill, at, at + n)
    this.#fill += n
    return n
  }

  /**
   * Reads the header of the next deflate block when it is a stored one, whose bytes #stored then
   * copies; from any other block on, the body goes to zlib.
   */
  #block(buf: Buffer, at: number): number {
    if (this.#fill === 0 && (((buf[at] ?? 0) >> 1) & 3) !== STORED) {
      this.#phase = Phase.INFLATE
      return at
    }
    const n = this.#gather(buf, at, STORED_HEADER)
    this.#count(n)
    if (this.#fill < STORED_HEADER) return at + n
    const length = this.#scratch.readUInt16LE(1)
    if ((length ^ 0xffff) !== this.#scratch.readUInt16LE(3)) {
      throw new InvalidFrameError('bad gzip body: invalid stored block lengths')
    }
    this.#final = ((this.#scratch[0] ?? 0) & 1) === 1
    // Both limits are checked on the lengths declared, before a byte of the block is held.
    const output = this.#output.length + length
    if (output > this.#maxFrameBytes) throw new FrameTooLargeError(output, this.#maxFrameBytes)
    const member = this.#member + length + (this.#final ? 0 : 1) + TRAILER
    if (member > this.#maxCompressedBytes) throw new FrameTooLargeError(member, this.#maxCompressedBytes)
    this.#fill = 0
    this.#storedLeft = length
    this.#phase = Phase.STORED
    return at + n
  }

  /** Copies bytes of a stored block to the output. */
  #stored(buf: Buffer, at: number): number {
    const n = Math.min(this.#storedLeft, buf.length - at)
    if (n > 0) this.#output.append(buf.subarray(at, at + n), this.#storedLeft)
    this.#count(n)
    this.#storedLeft -= n
    if (this.#storedLeft === 0) this.#phase = this.#final ? Phase.TRAILER : Phase.BLOCK
    return at + n
  }

  /** What zlib needs to go on after stored blocks: their last 32 KiB, which later blocks may copy from. */
  #history(): { dictionary?: Buffer } {
    return this.#output.length === 0 ? {} : { dictionary: this.#output.tail(WINDOW) }
  }

  /**
   * Inflates a body that starts at `buf[0]` in one synchronous call; returns the bytes it used,
   * or -1 when the body does not end within `buf`.
   */
  #inflateWhole(buf: Buffer): number {
    const budget = this.#maxCompressedBytes - this.#member - TRAILER + 1
    const piece = buf.length > budget ? buf.subarray(0, budget) : buf
    const room = this.#maxFrameBytes - this.#output.length
    let result: { buffer: Buffer; engine: zlib.InflateRaw }
    try {
      // `maxOutputLength` stops a bomb one byte past the limit, before more memory is spent.
      result = zlib.inflateRawSync(piece, {
        info: true,
        maxOutputLength: Math.min(room + 1, constants.MAX_LENGTH),
        ...this.#history(),
      }) as unknown as { buffer: Buffer; engine: zlib.InflateRaw }
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (code === 'Z_BUF_ERROR') {
        if (piece.length < buf.length || this.#member + piece.length + TRAILER > this.#maxCompressedBytes) {
          throw new FrameTooLargeError(this.#member + piece.length + TRAILER, this.#maxCompressedBytes)
        }
        return -1
      }
      if (code === 'ERR_BUFFER_TOO_LARGE') {
        throw new FrameTooLargeError(this.#maxFrameBytes + 1, this.#maxFrameBytes, { cause: err })
      }
      throw new InvalidFrameError(`bad gzip body: ${(err as Error).message}`, { cause: err })
    }
    const output = result.buffer
    if (output.length > room) throw new FrameTooLargeError(this.#output.length + output.length, this.#maxFrameBytes)
    const bodyBytes = result.engine.bytesWritten
    this.#count(bodyBytes)
    this.#output.adopt(output)
    this.#phase = Phase.TRAILER
    return bodyBytes
  }

  #startBody(): zlib.InflateRaw {
    // Each chunk of output costs a round trip through the thread pool: chunks larger than the
    // default 16 KiB take a large member in a few, and a small limit keeps them small.
    const chunkSize = Math.max(zlib.constants.Z_MIN_CHUNK, Math.min(INFLATE_CHUNK, this.#maxFrameBytes + 1))
    const inflater = zlib.createInflateRaw({ chunkSize, ...this.#history() })
    // The listeners stay for the inflater's life, so a late zlib error can never go unhandled.
    inflater.on('data', (out: Buffer) => {
      if (this.#bodyError !== undefined) return
      const size = this.#output.length + out.length
      if (size > this.#maxFrameBytes) {
        // Stops a bomb here, before the next piece of output exists.
        this.#bodyError = new FrameTooLargeError(size, this.#maxFrameBytes)
        inflater.destroy()
        this.#settle?.()
        return
      }
      this.#output.append(out)
    })
    inflater.on('error', (err: Error) => {
      this.#bodyError ??= new InvalidFrameError(`bad gzip body: ${err.message}`, { cause: err })
      this.#settle?.()
    })
    this.#inflater = inflater
    this.#fed = 0
    this.#bodyError = undefined
    return inflater
  }

  /**
   * Feeds body bytes to the inflater; returns how many of `buf` belong to the body. The inflater
   * stops at the end of the deflate data, and `bytesWritten` then tells where the trailer starts.
   */
  async #inflate(buf: Buffer): Promise<number> {
    const inflater = this.#inflater ?? this.#startBody()
    // One byte past the budget is enough to learn whether the body ends within it.
    const budget = this.#maxCompressedBytes - this.#member - TRAILER - this.#fed + 1
    if (budget <= 0) {
      throw new FrameTooLargeError(this.#member + this.#fed + 1 + TRAILER, this.#maxCompressedBytes)
    }
    const piece = buf.length > budget ? buf.subarray(0, budget) : buf
    const before = this.#fed
    this.#fed += piece.length
    await new Promise<void>((resolve) => {
      this.#settle = resolve
      inflater.write(piece, () => {
        resolve()
      })
    })
    this.#settle = undefined
    if (this.#bodyError !== undefined) throw this.#bodyError
    const bodyBytes = inflater.bytesWritten
    if (bodyBytes < this.#fed) {
      // The deflate data ended inside this piece: the rest is trailer and beyond.
      this.#member += bodyBytes
      this.#fed = 0
      this.#inflater = undefined
      inflater.destroy()
      this.#phase = Phase.TRAILER
      return bodyBytes - before
    }
    if (this.#member + this.#fed + TRAILER > this.#maxCompressedBytes) {
      throw new FrameTooLargeError(this.#member + this.#fed + TRAILER, this.#maxCompressedBytes)
    }
    return piece.length
  }

  #trailer(buf: Buffer, at: number, frames: Buffer[]): number {
    const n = this.#gather(buf, at, TRAILER)
    this.#count(n)
    if (this.#fill < TRAILER) return at + n
    const frame = this.#output.take()
    const crc = this.#scratch.readUInt32LE(0)
    const size = this.#scratch.readUInt32LE(4)
    if (zlib.crc32(frame) !== crc) throw new InvalidFrameError('gzip CRC-32 does not match the data')
    // ISIZE is the length modulo 2^32.
    if (size !== frame.length % 0x1_0000_0000) throw new InvalidFrameError('gzip ISIZE does not match the data')
    frames.push(frame)
    this.#fill = 0
    this.#member = 0
    this.#phase = Phase.FIXED
    return at + n
  }

  #drop(): void {
    this.#inflater?.destroy()
    this.#inflater = undefined
    this.#fill = 0
    this.#member = 0
    this.#fed = 0
    this.#storedLeft = 0
    this.#output.clear()
    this.#phase = Phase.FIXED
  }
}
