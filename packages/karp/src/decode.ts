// The `karp decode` verb's incremental decoder: the frames of one direction of a captured connection.
import { Buffer } from 'node:buffer'
import { ErrorCode as ProtoCode, checkLimit, isProtoError, toBuffer } from '@proto/framing'
import { CaptureLines, payloadJson } from '@proto/framing/cli'
import type { CaptureDecoder, CaptureRecord, PayloadJson } from '@proto/framing/cli'
import { decodeFrame } from './codec.ts'
import { DEFAULT_MAX_FRAME_BYTES } from './constants.ts'
import { toKarpError } from './errors.ts'

/** A decoded frame as `karp decode` prints it: the header's fields, then the payload as text or base64. */
export type KarpCaptureFrame = (
  | { readonly type: 'request'; readonly route: string; readonly id: string; readonly wantsReply: boolean }
  | { readonly type: 'response'; readonly id: string; readonly success: boolean }
) &
  PayloadJson

const LF = 0x0a
const CR = 0x0d

/**
 * Splits a capture into lines (framing's `CaptureLines`, which goes on after the next LF when a
 * line is over `maxFrameBytes`) and decodes each with the codec; a line that is no frame is a
 * fault record and decoding goes on, as a connection does. Blank lines and lone CRs are skipped,
 * and an unterminated last line is parsed as a frame, as at a peer's end of stream. It holds at
 * most twice `maxFrameBytes`, whatever the capture's size.
 */
export class KarpCaptureDecoder implements CaptureDecoder<KarpCaptureFrame> {
  readonly #lines: CaptureLines
  readonly #maxLineBytes: number
  // The bytes after the last LF: CaptureLines reports them as cut short at the end, where KARP
  // parses them as a last frame.
  #tail: Buffer[] = []
  #tailBytes = 0

  /** @throws {UsageError} for a `maxFrameBytes` that is not an integer from 64 up */
  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    this.#maxLineBytes = checkLimit('maxFrameBytes', maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 64) - 1
    this.#lines = new CaptureLines({ maxLineBytes: this.#maxLineBytes })
  }

  push(chunk: Uint8Array): CaptureRecord<KarpCaptureFrame>[] {
    const buf = toBuffer(chunk)
    const records = this.#records(this.#lines.push(buf))
    const lf = buf.lastIndexOf(LF)
    if (lf !== -1) {
      this.#tail = []
      this.#tailBytes = 0
    }
    const rest = buf.length - lf - 1
    if (rest > 0 && this.#tailBytes + rest <= this.#maxLineBytes) {
      // A copy: the caller may reuse its chunk once push returns.
      this.#tail.push(Buffer.from(buf.subarray(lf + 1)))
      this.#tailBytes += rest
    } else if (rest > 0) {
      this.#tail = []
      this.#tailBytes = this.#maxLineBytes + 1
    }
    return records
  }

  end(): CaptureRecord<KarpCaptureFrame>[] {
    const records: CaptureRecord<KarpCaptureFrame>[] = []
    for (const found of this.#lines.end()) {
      const truncated = 'error' in found && isProtoError(found.error) && found.error.code === ProtoCode.TRUNCATED_FRAME
      if (truncated && this.#tailBytes <= this.#maxLineBytes) {
        const record = this.#decode(found.offset, Buffer.concat(this.#tail, this.#tailBytes))
        if (record !== undefined) records.push(record)
      } else {
        records.push(...this.#records([found]))
      }
    }
    this.#tail = []
    this.#tailBytes = 0
    return records
  }

  #records(found: ReturnType<CaptureLines['push']>): CaptureRecord<KarpCaptureFrame>[] {
    const records: CaptureRecord<KarpCaptureFrame>[] = []
    for (const item of found) {
      if ('error' in item) {
        records.push({ offset: item.offset, error: toKarpError(item.error) })
        continue
      }
      const record = this.#decode(item.offset, item.line)
      if (record !== undefined) records.push(record)
    }
    return records
  }

  #decode(offset: number, line: Buffer): CaptureRecord<KarpCaptureFrame> | undefined {
    if (line.length === 0 || (line.length === 1 && line[0] === CR)) return undefined
    let frame
    try {
      frame = decodeFrame(line)
    } catch (err) {
      return { offset, error: err }
    }
    const payload = payloadJson(frame.data)
    return frame.type === 'request'
      ? { offset, frame: { type: 'request', route: frame.route, id: frame.id, wantsReply: frame.wantsReply, ...payload } }
      : { offset, frame: { type: 'response', id: frame.id, success: frame.success, ...payload } }
  }
}
