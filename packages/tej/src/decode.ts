// The `decode` verb's incremental decoder: captured TEJ bytes in, one record per frame out, files hashed as they stream.
import { ByteQueue } from '@proto/framing'
import { FileDigest, payloadJson } from '@proto/framing/cli'
import type { CaptureDecoder, CaptureRecord, FileSummary, PayloadJson } from '@proto/framing/cli'
import {
  FRAME_HEAD_BYTES,
  checkFileCount,
  checkFileSize,
  checkMessageLength,
  checkNameLength,
  checkStatusByte,
  checkVersion,
  decodeName,
} from './codec.ts'
import { TejTruncatedError } from './errors.ts'
import type { ResolvedLimits } from './limits.ts'

/** A decoded frame as `tej decode` prints it: file contents summarised, never printed. */
export interface TejCaptureFrame {
  status: number
  files: FileSummary[]
  message: PayloadJson
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

const Step = {
  HEAD: 0,
  NAME_LENGTH: 1,
  NAME: 2,
  DATA_LENGTH: 3,
  DATA: 4,
  MESSAGE_LENGTH: 5,
  MESSAGE: 6,
} as const
type Step = (typeof Step)[keyof typeof Step]

/**
 * Decodes one direction of a TEJ connection under `limits`. TEJ has no delimiter to find a frame
 * by, so decoding goes on after a fault only where the frame's lengths are still known: a name
 * over `maxNameBytes` or not UTF-8, a file over `maxFileBytes` or a message over
 * `maxMessageBytes` is reported and the rest of its frame skipped unread. A bad status bit or
 * version, a file count over `maxFiles`, or a length no capture can hold (above 2^53 − 1) stops
 * decoding. Memory: the message and a name of the frame being read, each within its limit.
 */
export function captureDecoder(limits: ResolvedLimits): CaptureDecoder<TejCaptureFrame> {
  return new TejCaptureDecoder(limits)
}

class TejCaptureDecoder implements CaptureDecoder<TejCaptureFrame> {
  readonly #limits: ResolvedLimits
  readonly #queue = new ByteQueue()
  /** Bytes taken from the queue so far: the capture offset of its first byte. */
  #taken = 0
  #step: Step = Step.HEAD
  #frameStart = 0
  #status = 0
  #filesLeft = 0
  /** Bytes still wanted by the field being read: a name, file data or the message. */
  #need = 0
  #name = ''
  #files: FileSummary[] = []
  #digest: FileDigest | undefined
  /** The frame being read has been reported as a fault: its fields are skipped, unread. */
  #skipping = false
  #stopped = false

  constructor(limits: ResolvedLimits) {
    this.#limits = limits
  }

  push(chunk: Uint8Array): CaptureRecord<TejCaptureFrame>[] {
    if (this.#stopped) return []
    this.#queue.push(chunk)
    const records: CaptureRecord<TejCaptureFrame>[] = []
    this.#run(records)
    return records
  }

  end(offset: number): CaptureRecord<TejCaptureFrame>[] {
    if (this.#stopped || (this.#step === Step.HEAD && this.#queue.length === 0)) return []
    const received = offset - this.#frameStart
    return [{ offset: this.#frameStart, error: new TejTruncatedError(`the capture ends ${received} bytes into a frame`), stop: true }]
  }

  #run(records: CaptureRecord<TejCaptureFrame>[]): void {
    const queue = this.#queue
    const limits = this.#limits
    for (;;) {
      switch (this.#step) {
        case Step.HEAD: {
          if (queue.length < FRAME_HEAD_BYTES) return
          this.#frameStart = this.#taken
          this.#take(FRAME_HEAD_BYTES)
          this.#skipping = false
          this.#files = []
          try {
            this.#status = checkStatusByte(queue.u8())
            checkVersion(queue.u8())
            this.#filesLeft = checkFileCount(queue.u64(), limits)
          } catch (err) {
            this.#stop(records, err)
            return
          }
          this.#step = this.#filesLeft > 0 ? Step.NAME_LENGTH : Step.MESSAGE_LENGTH
          break
        }
        case Step.NAME_LENGTH:
          if (queue.length < 2) return
          this.#take(2)
          this.#need = queue.u16()
          this.#fault(records, faultOf(() => checkNameLength(this.#need, limits)))
          this.#step = Step.NAME
          break
        case Step.NAME:
          if (this.#skipping) {
            if (!this.#skip()) return
          } else {
            if (queue.length < this.#need) return
            const bytes = queue.take(this.#need)
            this.#take(this.#need)
            this.#fault(
              records,
              faultOf(() => {
                this.#name = decodeName(bytes)
              }),
            )
          }
          this.#step = Step.DATA_LENGTH
          break
        case Step.DATA_LENGTH: {
          if (queue.length < 8) return
          this.#take(8)
          const size = queue.u64()
          const fault = faultOf(() => checkFileSize(size, limits))
          if (size > MAX_SAFE) {
            this.#stop(records, fault)
            return
          }
          this.#fault(records, fault)
          this.#need = Number(size)
          this.#digest = this.#skipping ? undefined : new FileDigest(this.#name)
          this.#step = Step.DATA
          break
        }
        case Step.DATA:
          while (this.#need > 0) {
            if (queue.length === 0) return
            const piece = queue.takeUpTo(this.#need)
            this.#take(piece.length)
            this.#need -= piece.length
            this.#digest?.update(piece)
          }
          if (this.#digest !== undefined) this.#files.push(this.#digest.summary())
          this.#digest = undefined
          this.#filesLeft -= 1
          this.#step = this.#filesLeft > 0 ? Step.NAME_LENGTH : Step.MESSAGE_LENGTH
          break
        case Step.MESSAGE_LENGTH: {
          if (queue.length < 8) return
          this.#take(8)
          const length = queue.u64()
          const fault = faultOf(() => checkMessageLength(length, limits))
          if (length > MAX_SAFE) {
            this.#stop(records, fault)
            return
          }
          this.#fault(records, fault)
          this.#need = Number(length)
          this.#step = Step.MESSAGE
          break
        }
        case Step.MESSAGE:
          if (this.#skipping) {
            if (!this.#skip()) return
          } else {
            if (queue.length < this.#need) return
            const message = queue.take(this.#need)
            this.#take(this.#need)
            records.push({ offset: this.#frameStart, frame: { status: this.#status, files: this.#files, message: payloadJson(message) } })
          }
          this.#step = Step.HEAD
          break
      }
    }
  }

  /** Counts bytes the queue gives up. */
  #take(count: number): void {
    this.#taken += count
  }

  /** Drops what is queued of the field being skipped; true once it is all gone. */
  #skip(): boolean {
    const count = Math.min(this.#need, this.#queue.length)
    this.#queue.skip(count)
    this.#take(count)
    this.#need -= count
    return this.#need === 0
  }

  /** Reports the first fault of a frame, which is then skipped; later ones of the same frame add nothing. */
  #fault(records: CaptureRecord<TejCaptureFrame>[], fault: unknown): void {
    if (this.#skipping || fault === undefined) return
    this.#skipping = true
    records.push({ offset: this.#frameStart, error: fault })
  }

  #stop(records: CaptureRecord<TejCaptureFrame>[], err: unknown): void {
    this.#stopped = true
    records.push({ offset: this.#frameStart, error: err, stop: true })
  }
}

/** What `check` throws, or `undefined` when it passes. */
function faultOf(check: () => unknown): unknown {
  try {
    check()
  } catch (err) {
    return err
  }
  return undefined
}
