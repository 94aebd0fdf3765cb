// The TEJ wire format, pure: field checks, encoders, the incremental decoder and whole-frame decoding.
import { Buffer } from 'node:buffer'
import { ByteQueue, UsageError } from '@proto/framing'
import type { FrameDecoder } from '@proto/framing'
import { MAX_STATUS, MAX_WIRE_NAME_BYTES, PROTOCOL_VERSION, STATUS_BIT } from './constants.ts'
import {
  TejBadNameError,
  TejBadStatusBitError,
  TejFileTooLargeError,
  TejInvalidStatusError,
  TejMessageTooLargeError,
  TejNameTooLongError,
  TejTooManyFilesError,
  TejTruncatedError,
  TejUnsupportedVersionError,
  type TejError,
} from './errors.ts'
import { resolveLimits } from './limits.ts'
import type { ResolvedLimits } from './limits.ts'
import type { TejDecodeEvent, TejFile, TejFrame, TejLimits } from './types.ts'

/** Bytes before the first file: status, version, file count. */
export const FRAME_HEAD_BYTES = 10

// `ignoreBOM` keeps a leading U+FEFF, which is part of the name.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const TWO_32 = 0x1_0000_0000

// --- field checks, shared by TejDecoder and the connection's ByteReader ---

/**
 * The status in a received status byte.
 * @throws {TejBadStatusBitError} without bit 7
 */
export function checkStatusByte(byte: number): number {
  if ((byte & STATUS_BIT) === 0) throw new TejBadStatusBitError(byte)
  return byte & MAX_STATUS
}

/** @throws {TejUnsupportedVersionError} for anything but 1 */
export function checkVersion(version: number): void {
  if (version !== PROTOCOL_VERSION) throw new TejUnsupportedVersionError(version)
}

/** @throws {TejTooManyFilesError} over `maxFiles` */
export function checkFileCount(count: bigint, limits: ResolvedLimits): number {
  if (count > BigInt(limits.maxFiles)) throw new TejTooManyFilesError(count, limits.maxFiles)
  return Number(count)
}

/** @throws {TejNameTooLongError} over `maxNameBytes` */
export function checkNameLength(length: number, limits: ResolvedLimits): number {
  if (length > limits.maxNameBytes) throw new TejNameTooLongError(length, limits.maxNameBytes)
  return length
}

/** @throws {TejBadNameError} unless `bytes` is valid UTF-8 */
export function decodeName(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes)
  } catch (err) {
    throw new TejBadNameError({ cause: err })
  }
}

/** @throws {TejFileTooLargeError} over `maxFileBytes` (never more than 2^53 − 1) */
export function checkFileSize(size: bigint, limits: ResolvedLimits): number {
  if (size > BigInt(limits.maxFileBytes)) throw new TejFileTooLargeError(size, limits.maxFileBytes)
  return Number(size)
}

/** @throws {TejMessageTooLargeError} over `maxMessageBytes` */
export function checkMessageLength(length: bigint, limits: ResolvedLimits): number {
  if (length > BigInt(limits.maxMessageBytes)) throw new TejMessageTooLargeError(length, limits.maxMessageBytes)
  return Number(length)
}

// --- encoding ---

/**
 * `status` if it is an integer from 0 to 127.
 * @throws {TejInvalidStatusError} otherwise: the original wraps 128 to 0, we refuse
 */
export function checkStatus(status: unknown): number {
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > MAX_STATUS) {
    throw new TejInvalidStatusError(status)
  }
  return status
}

/**
 * `size` if it is a byte count a u64 field and a JS number both hold exactly.
 * @throws {UsageError} otherwise
 */
export function checkSize(size: unknown, what: string): number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new UsageError(`${what} must be an integer from 0 to 2^53 - 1, got ${String(size)}`)
  }
  return size
}

/**
 * The UTF-8 bytes of a name.
 * @throws {UsageError} over 65 535 bytes, which the u16 length field cannot describe
 */
export function encodeName(name: string): Buffer {
  const bytes = Buffer.from(name, 'utf8')
  if (bytes.length > MAX_WIRE_NAME_BYTES) {
    throw new UsageError(`file name is ${bytes.length} UTF-8 bytes; at most ${MAX_WIRE_NAME_BYTES} fit`)
  }
  return bytes
}

function writeU64(target: Buffer, value: number, offset: number): void {
  target.writeUInt32BE(Math.floor(value / TWO_32), offset)
  target.writeUInt32BE(value % TWO_32, offset + 4)
}

/** Status byte, version and file count of a checked status. */
export function encodeFrameHead(status: number, fileCount: number): Buffer {
  const head = Buffer.allocUnsafe(FRAME_HEAD_BYTES)
  head[0] = STATUS_BIT | status
  head[1] = PROTOCOL_VERSION
  writeU64(head, fileCount, 2)
  return head
}

/** Name length (the UTF-8 byte count, unlike the original), name and data length. */
export function encodeFileHead(name: Buffer, size: number): Buffer {
  const head = Buffer.allocUnsafe(2 + name.length + 8)
  head.writeUInt16BE(name.length, 0)
  name.copy(head, 2)
  writeU64(head, size, 2 + name.length)
  return head
}

/** The message length field. */
export function encodeMessageHead(length: number): Buffer {
  const head = Buffer.allocUnsafe(8)
  writeU64(head, length, 0)
  return head
}

/**
 * The wire bytes of a whole frame.
 * @throws {TejInvalidStatusError} for a status outside 0..127
 * @throws {UsageError} for a name over 65 535 UTF-8 bytes
 */
export function encodeFrame(frame: TejFrame): Uint8Array {
  const status = checkStatus(frame.status)
  const pieces: Uint8Array[] = [encodeFrameHead(status, frame.files.length)]
  for (const file of frame.files) {
    pieces.push(encodeFileHead(encodeName(file.name), file.data.length), file.data)
  }
  pieces.push(encodeMessageHead(frame.message.length), frame.message)
  return Buffer.concat(pieces)
}

// --- decoding ---

const Field = {
  STATUS: 0,
  VERSION: 1,
  FILE_COUNT: 2,
  NAME_LENGTH: 3,
  NAME: 4,
  DATA_LENGTH: 5,
  DATA: 6,
  MESSAGE_LENGTH: 7,
  MESSAGE: 8,
} as const
type Field = (typeof Field)[keyof typeof Field]

/** Parses queued bytes one event at a time; each field is checked as soon as it is complete. */
class FrameParser {
  readonly queue = new ByteQueue()
  readonly #limits: ResolvedLimits
  #field: Field = Field.STATUS
  #status = 0
  #filesLeft = 0
  /** Bytes of the name or message being waited for, or of file data still to come. */
  #need = 0
  #name = ''

  constructor(limits: ResolvedLimits) {
    this.#limits = limits
  }

  /** True between the first byte of a frame and its last. */
  get inFrame(): boolean {
    return this.#field !== Field.STATUS || this.queue.length > 0
  }

  /** The next event, or `undefined` until more bytes arrive. */
  next(): TejDecodeEvent | undefined {
    const queue = this.queue
    for (;;) {
      switch (this.#field) {
        case Field.STATUS:
          if (queue.length < 1) return undefined
          this.#status = checkStatusByte(queue.u8())
          this.#field = Field.VERSION
          break
        case Field.VERSION:
          if (queue.length < 1) return undefined
          checkVersion(queue.u8())
          this.#field = Field.FILE_COUNT
          break
        case Field.FILE_COUNT: {
          if (queue.length < 8) return undefined
          const fileCount = checkFileCount(queue.u64(), this.#limits)
          this.#filesLeft = fileCount
          this.#afterFile()
          return { type: 'frame', status: this.#status, fileCount }
        }
        case Field.NAME_LENGTH:
          if (queue.length < 2) return undefined
          this.#need = checkNameLength(queue.u16(), this.#limits)
          this.#field = Field.NAME
          break
        case Field.NAME:
          if (queue.length < this.#need) return undefined
          this.#name = decodeName(queue.take(this.#need))
          this.#field = Field.DATA_LENGTH
          break
        case Field.DATA_LENGTH: {
          if (queue.length < 8) return undefined
          const size = checkFileSize(queue.u64(), this.#limits)
          this.#filesLeft -= 1
          this.#need = size
          if (size > 0) this.#field = Field.DATA
          else this.#afterFile()
          return { type: 'file', name: this.#name, size }
        }
        case Field.DATA: {
          if (queue.length === 0) return undefined
          const chunk = queue.takeUpTo(this.#need)
          this.#need -= chunk.length
          if (this.#need === 0) this.#afterFile()
          return { type: 'data', chunk }
        }
        case Field.MESSAGE_LENGTH:
          if (queue.length < 8) return undefined
          this.#need = checkMessageLength(queue.u64(), this.#limits)
          this.#field = Field.MESSAGE
          break
        case Field.MESSAGE:
          if (queue.length < this.#need) return undefined
          this.#field = Field.STATUS
          return { type: 'message', data: queue.take(this.#need) }
      }
    }
  }

  #afterFile(): void {
    this.#field = this.#filesLeft > 0 ? Field.NAME_LENGTH : Field.MESSAGE_LENGTH
  }
}

/**
 * An incremental TEJ decoder with no I/O: bytes in, events out, under any chunking. A fault
 * comes after the events before it, as in framing's decoders.
 */
export class TejDecoder implements FrameDecoder<TejDecodeEvent> {
  readonly #parser: FrameParser
  #error: TejError | undefined

  /** @throws {UsageError} for a limit that is not an integer in range */
  constructor(limits?: TejLimits) {
    this.#parser = new FrameParser(resolveLimits(limits, 'TejDecoder'))
  }

  /** Bytes held for an unfinished field (a name, a message or a length). */
  get buffered(): number {
    return this.#parser.queue.length
  }

  /** The fault that stopped this decoder; it throws it from then on. */
  get error(): TejError | undefined {
    return this.#error
  }

  push(chunk: Uint8Array): TejDecodeEvent[] {
    if (this.#error !== undefined) throw this.#error
    this.#parser.queue.push(chunk)
    const events: TejDecodeEvent[] = []
    try {
      for (let event = this.#parser.next(); event !== undefined; event = this.#parser.next()) events.push(event)
    } catch (err) {
      this.#error = err as TejError
      if (events.length === 0) throw err
    }
    return events
  }

  /** @throws {TejTruncatedError} when the input ends inside a frame */
  end(): TejDecodeEvent[] {
    if (this.#error !== undefined) throw this.#error
    if (this.#parser.inFrame) {
      this.#error = new TejTruncatedError()
      throw this.#error
    }
    return []
  }
}

/**
 * The first frame in `bytes` and its length. File data and the message are views of `bytes`.
 * @throws {TejTruncatedError} when `bytes` ends inside the frame
 * @throws {TejError} for anything `TejDecoder` rejects
 */
export function decodeFrame(bytes: Uint8Array, limits?: TejLimits): { frame: TejFrame; bytesRead: number } {
  const parser = new FrameParser(resolveLimits(limits, 'decodeFrame()'))
  parser.queue.push(bytes)
  let status = 0
  const files: TejFile[] = []
  for (let event = parser.next(); event !== undefined; event = parser.next()) {
    switch (event.type) {
      case 'frame':
        status = event.status
        break
      case 'file':
        files.push({ name: event.name, data: Buffer.alloc(0) })
        break
      case 'data': {
        // One input chunk, so each file's data arrives as a single view.
        const file = files.at(-1)
        if (file !== undefined) file.data = event.chunk
        break
      }
      case 'message':
        return { frame: { status, files, message: event.data }, bytesRead: bytes.length - parser.queue.length }
    }
  }
  throw new TejTruncatedError(`${bytes.length} bytes end inside a frame`)
}
