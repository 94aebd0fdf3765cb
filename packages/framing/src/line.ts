// Lines: LineDecoder, which splits input at LF, and encodeLine.
import { Buffer } from 'node:buffer'
import { ByteQueue } from './byte-queue.ts'
import { DEFAULT_MAX_LINE_BYTES } from './constants.ts'
import { FrameTooLargeError, InvalidFrameError, TruncatedFrameError, UsageError } from './errors.ts'
import type { ProtoError } from './errors.ts'
import type { FrameDecoder } from './iterate.ts'
import { checkLimit } from './options.ts'
import { toBuffer } from './to-buffer.ts'

const LF = 0x0a
const CR = 0x0d

/** Options of `LineDecoder`. */
export interface LineDecoderInit {
  /** Bytes a line may hold before its LF, CR included. @default 65_536 */
  maxLineBytes?: number | undefined
  /** Drop one CR before the LF. @default false */
  stripCR?: boolean | undefined
  /** What `end()` does with an unterminated last line. @default 'error' */
  trailing?: 'error' | 'emit' | 'discard' | undefined
  /** Return copies instead of views of the input chunks. @default false */
  copy?: boolean | undefined
}

/** Options of `encodeLine`. */
export interface EncodeLineInit {
  /** Bytes the line may hold before its line ending. @default 65_536 */
  maxLineBytes?: number | undefined
  /** End with CRLF instead of LF. @default false */
  crlf?: boolean | undefined
}

/** Splits input at LF. Lines are `Buffer`s without the LF; an empty line is an empty Buffer. */
export class LineDecoder implements FrameDecoder {
  readonly #maxLineBytes: number
  readonly #stripCR: boolean
  readonly #trailing: 'error' | 'emit' | 'discard'
  readonly #copy: boolean
  // The unfinished line: pieces already searched for LF, so they are never scanned again.
  // Small pieces are copied together at once, so memory follows the bytes, not the chunks.
  readonly #pending = new ByteQueue()
  // The last pending byte, which may be the CR of a CRLF split across chunks.
  #pendingLast = 0
  #error: ProtoError | undefined

  constructor(init?: LineDecoderInit) {
    this.#maxLineBytes = checkLimit('maxLineBytes', init?.maxLineBytes, DEFAULT_MAX_LINE_BYTES, 0)
    this.#stripCR = init?.stripCR ?? false
    this.#trailing = init?.trailing ?? 'error'
    if (this.#trailing !== 'error' && this.#trailing !== 'emit' && this.#trailing !== 'discard') {
      throw new UsageError(`trailing must be 'error', 'emit' or 'discard', got ${String(this.#trailing)}`)
    }
    this.#copy = init?.copy ?? false
  }

  get buffered(): number {
    return this.#pending.length
  }

  get error(): ProtoError | undefined {
    return this.#error
  }

  push(chunk: Uint8Array): Buffer[] {
    if (this.#error !== undefined) throw this.#error
    const buf = toBuffer(chunk)
    // Grown from one element: an empty literal would reserve room for 17 on its first push.
    let frames: Buffer[] | undefined
    const length = buf.length
    const max = this.#maxLineBytes
    let start = 0
    const buffered = this.#pending.length
    if (buffered > 0) {
      const lf = buf.indexOf(LF)
      if (lf === -1) {
        if (buffered + length > max) return this.#fail([], buffered + length)
        if (length > 0) this.#hold(buf)
        return []
      }
      if (buffered + lf > max) return this.#fail([], buffered + lf)
      frames = [this.#joinPending(buf, lf)]
      start = lf + 1
    }
    const copy = this.#copy
    const stripCR = this.#stripCR
    for (;;) {
      const lf = buf.indexOf(LF, start)
      if (lf === -1) break
      if (lf - start > max) return this.#fail(frames ?? [], lf - start)
      const end = stripCR && lf > start && buf[lf - 1] === CR ? lf - 1 : lf
      const line = copy ? Buffer.from(buf.subarray(start, end)) : buf.subarray(start, end)
      if (frames === undefined) frames = [line]
      else frames.push(line)
      start = lf + 1
    }
    if (start < length) {
      if (length - start > max) return this.#fail(frames ?? [], length - start)
      this.#hold(start === 0 ? buf : buf.subarray(start))
    }
    return frames ?? []
  }

  end(): Buffer[] {
    if (this.#error !== undefined) throw this.#error
    const pending = this.#pending
    const buffered = pending.length
    if (buffered === 0) return []
    switch (this.#trailing) {
      case 'error':
        pending.skip(buffered)
        throw (this.#error = new TruncatedFrameError(buffered))
      case 'discard':
        pending.skip(buffered)
        return []
      case 'emit': {
        if (!this.#copy) return [pending.take(buffered)]
        const line = Buffer.allocUnsafe(buffered)
        pending.takeInto(line)
        return [line]
      }
    }
  }

  /** Keeps the tail of a chunk that holds no LF, copied at once if it is small. */
  #hold(piece: Buffer): void {
    this.#pending.push(piece)
    this.#pending.compact()
    this.#pendingLast = piece[piece.length - 1] ?? 0
  }

  /** The pending pieces plus `buf[0, lf)` as one line: the one copy of a line split across chunks. */
  #joinPending(buf: Buffer, lf: number): Buffer {
    const pending = this.#pending
    let total = pending.length + lf
    if (this.#stripCR && total > 0 && (lf > 0 ? buf[lf - 1] : this.#pendingLast) === CR) total -= 1
    const line = Buffer.allocUnsafe(total)
    const moved = pending.takeInto(line)
    // A CR split from its LF is the one pending byte left over.
    if (pending.length > 0) pending.skip(pending.length)
    if (moved < total) line.set(buf.subarray(0, total - moved), moved)
    return line
  }

  #fail(frames: Buffer[], size: number): Buffer[] {
    this.#pending.skip(this.#pending.length)
    this.#error = new FrameTooLargeError(size, this.#maxLineBytes)
    if (frames.length === 0) throw this.#error
    return frames
  }
}

/**
 * UTF-8 of `line` plus LF (CRLF with `crlf`).
 * @throws {InvalidFrameError} when the line holds an LF
 * @throws {FrameTooLargeError} when it is over `maxLineBytes`
 */
export function encodeLine(line: Uint8Array | string, init?: EncodeLineInit): Buffer {
  const max = checkLimit('maxLineBytes', init?.maxLineBytes, DEFAULT_MAX_LINE_BYTES, 0)
  const ending = init?.crlf === true ? 2 : 1
  if (typeof line === 'string') {
    if (line.includes('\n')) throw new InvalidFrameError('a line to encode holds an LF')
    const size = Buffer.byteLength(line)
    if (size > max) throw new FrameTooLargeError(size, max)
    const out = Buffer.allocUnsafe(size + ending)
    out.write(line, 0, 'utf8')
    writeEnding(out, size, ending)
    return out
  }
  if (line.length > max) throw new FrameTooLargeError(line.length, max)
  if (line.indexOf(LF) !== -1) throw new InvalidFrameError('a line to encode holds an LF')
  const out = Buffer.allocUnsafe(line.length + ending)
  out.set(line, 0)
  writeEnding(out, line.length, ending)
  return out
}

function writeEnding(out: Buffer, at: number, ending: number): void {
  if (ending === 2) out[at++] = CR
  out[at] = LF
}
