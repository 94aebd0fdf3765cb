// CaptureLines: LF-delimited lines of a capture with their offsets, resynchronising at the next LF after a line over the limit.
import { Buffer } from 'node:buffer'
import { DEFAULT_MAX_LINE_BYTES } from '../constants.ts'
import { FrameTooLargeError, TruncatedFrameError } from '../errors.ts'
import { checkLimit } from '../options.ts'
import { toBuffer } from '../to-buffer.ts'

const LF = 0x0a

/** Options of `CaptureLines`. */
export interface CaptureLinesInit {
  /** Bytes a line may hold before its LF. @default 65_536 */
  maxLineBytes?: number | undefined
}

/** A line (without its LF) and where it starts, or a fault and where its line starts. */
export type CaptureLine = { offset: number; line: Buffer } | { offset: number; error: FrameTooLargeError | TruncatedFrameError }

/**
 * Splits a capture into lines for a `decode` verb. Unlike `LineDecoder`, a fault does not end
 * it: a line over `maxLineBytes` is reported once (`FrameTooLargeError`, at the offset where the
 * line starts) and skipped to the next LF, holding none of it; an unterminated last line is a
 * `TruncatedFrameError` at `end()`. Memory stays within `maxLineBytes` whatever the input. A
 * line inside one chunk is a view of it; one split across chunks is a copy.
 */
export class CaptureLines {
  readonly #max: number
  #offset = 0
  #lineStart = 0
  #parts: Buffer[] = []
  #buffered = 0
  #skipping = false

  constructor(init?: CaptureLinesInit) {
    this.#max = checkLimit('maxLineBytes', init?.maxLineBytes, DEFAULT_MAX_LINE_BYTES, 0)
  }

  /** The lines and faults `chunk` completes, in order. */
  push(chunk: Uint8Array): CaptureLine[] {
    const buf = toBuffer(chunk)
    const base = this.#offset
    this.#offset += buf.length
    const out: CaptureLine[] = []
    let start = 0
    while (start < buf.length) {
      const lf = buf.indexOf(LF, start)
      if (this.#skipping) {
        if (lf === -1) break
        this.#skipping = false
        start = lf + 1
        this.#lineStart = base + start
        continue
      }
      if (lf === -1) {
        const rest = buf.length - start
        if (this.#buffered + rest > this.#max) {
          out.push({ offset: this.#lineStart, error: new FrameTooLargeError(this.#buffered + rest, this.#max) })
          this.#drop()
          this.#skipping = true
        } else {
          // A copy: the caller may reuse its chunk once push returns.
          this.#parts.push(Buffer.from(buf.subarray(start)))
          this.#buffered += rest
        }
        break
      }
      const size = this.#buffered + lf - start
      if (size > this.#max) out.push({ offset: this.#lineStart, error: new FrameTooLargeError(size, this.#max) })
      else out.push({ offset: this.#lineStart, line: this.#take(buf.subarray(start, lf), size) })
      this.#drop()
      start = lf + 1
      this.#lineStart = base + start
    }
    return out
  }

  /** The capture ended: a fault for an unterminated last line, else nothing. */
  end(): CaptureLine[] {
    const buffered = this.#buffered
    this.#drop()
    this.#skipping = false
    return buffered === 0 ? [] : [{ offset: this.#lineStart, error: new TruncatedFrameError(buffered) }]
  }

  #take(last: Buffer, size: number): Buffer {
    if (this.#parts.length === 0) return last
    return Buffer.concat([...this.#parts, last], size)
  }

  #drop(): void {
    this.#parts = []
    this.#buffered = 0
  }
}
