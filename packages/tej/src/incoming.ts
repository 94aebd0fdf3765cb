// Received frames and files, read lazily from the connection's ByteReader in wire order.
import { Buffer } from 'node:buffer'
import { Readable } from 'node:stream'
import { UsageError } from '@proto/framing'
import type { ByteReader, FieldStream } from '@proto/framing'
import { checkFileCount, checkFileSize, checkMessageLength, checkNameLength, checkStatusByte, checkVersion, decodeName } from './codec.ts'
import { TejBufferLimitError } from './errors.ts'
import type { ResolvedLimits } from './limits.ts'
import type { TejFile, TejFrame, TejIncomingFile, TejIncomingFrame } from './types.ts'

/** What a frame needs from its connection. */
export interface FrameSource {
  readonly reader: ByteReader
  readonly limits: ResolvedLimits
  /** Ends the connection for a receive error; returns the error to give the consumer. */
  fail(err: unknown): unknown
}

/**
 * One frame read lazily through the connection's `ByteReader`. Reads run one at a time; once
 * the frame is released (its handler settled, the iterator moved on, or a buffer limit hit),
 * what is left is skipped and the consumer's reads reject.
 */
export class IncomingFrame implements TejIncomingFrame {
  readonly status: number
  readonly fileCount: number
  readonly #source: FrameSource
  #filesOpened = 0
  #file: IncomingFile | undefined
  #messageLength: number | undefined
  #message: Buffer | undefined
  #messageDone = false
  #touched = false
  #released: Error | undefined
  #tail: Promise<unknown> = Promise.resolve()

  private constructor(source: FrameSource, status: number, fileCount: number) {
    this.#source = source
    this.status = status
    this.fileCount = fileCount
  }

  /** Reads and checks the status byte, version and file count; `undefined` at a clean end. */
  static async read(source: FrameSource): Promise<IncomingFrame | undefined> {
    const reader = source.reader
    if (await reader.atEnd()) return undefined
    const status = checkStatusByte(await reader.u8())
    checkVersion(await reader.u8())
    const fileCount = checkFileCount(await reader.u64(), source.limits)
    return new IncomingFrame(source, status, fileCount)
  }

  async *files(): AsyncGenerator<TejIncomingFile, void, undefined> {
    this.#touched = true
    for (;;) {
      const file = await this.run(() => this.#openNext())
      if (file === undefined) return
      let resumed = false
      try {
        yield file
        resumed = true
      } finally {
        // The consumer left the loop: the files it did not reach are skipped now.
        if (!resumed && this.#released === undefined) await this.run(() => this.#skipFiles())
      }
    }
  }

  message(): Promise<Uint8Array> {
    this.#touched = true
    return this.run(() => this.#readMessage(undefined))
  }

  buffer(): Promise<TejFrame> {
    if (this.#touched) return Promise.reject(new UsageError('buffer() must come before any other read of the frame'))
    this.#touched = true
    return this.run(async () => {
      const budget = new Budget(this.#source.limits.maxBufferedBytes)
      const files: TejFile[] = []
      for (let file = await this.#openNext(); file !== undefined; file = await this.#openNext()) {
        budget.take(file.size)
        files.push({ name: file.name, data: await file.collect() })
      }
      return { status: this.status, files, message: await this.#readMessage(budget) }
    })
  }

  /**
   * Runs a read after the ones before it. Receive errors end the connection; a buffer limit
   * releases the frame; a usage error only fails this call.
   */
  run<V>(work: () => Promise<V>): Promise<V> {
    const result = this.#tail.then(async () => {
      if (this.#released !== undefined) throw this.#released
      try {
        return await work()
      } catch (err) {
        if (err instanceof TejBufferLimitError) {
          this.#released = new UsageError('the frame was discarded after a buffer limit', { cause: err })
          throw err
        }
        if (err instanceof UsageError) throw err
        throw this.#source.fail(err)
      }
    })
    this.#tail = result.catch(() => undefined)
    return result
  }

  /**
   * Stops the consumer's reads, waits for the one running, then skips the rest of the frame.
   * Rejects with a receive error, which the caller treats as the connection's end.
   */
  async release(): Promise<void> {
    this.#released ??= new UsageError('the frame was released: read it inside onFrame, or before the next frame')
    await this.#tail
    if (this.#messageDone) return
    await this.#source.reader.skip(await this.#readMessageLength())
    this.#messageDone = true
  }

  /** Buffers the whole frame under a ping's rules: a buffer limit is a receive error here. */
  async bufferPing(): Promise<TejFrame> {
    try {
      return await this.buffer()
    } catch (err) {
      if (err instanceof TejBufferLimitError) throw this.#source.fail(err)
      throw err
    }
  }

  /** Skips the open file and opens the next one; `undefined` after the last. */
  async #openNext(): Promise<IncomingFile | undefined> {
    await this.#file?.drop()
    this.#file = undefined
    if (this.#filesOpened === this.fileCount) return undefined
    const { reader, limits } = this.#source
    const nameLength = checkNameLength(await reader.u16(), limits)
    const name = decodeName(await reader.bytes(nameLength))
    const size = checkFileSize(await reader.u64(), limits)
    const file = new IncomingFile(this, this.#filesOpened, name, size, reader.stream(size), limits)
    this.#filesOpened += 1
    this.#file = file
    return file
  }

  /** Opening each next file skips the one before, down to the last. */
  async #skipFiles(): Promise<void> {
    while ((await this.#openNext()) !== undefined);
  }

  /** Skips the files not read, then reads the message length, once. */
  async #readMessageLength(): Promise<number> {
    if (this.#messageLength !== undefined) return this.#messageLength
    await this.#skipFiles()
    this.#messageLength = checkMessageLength(await this.#source.reader.u64(), this.#source.limits)
    return this.#messageLength
  }

  async #readMessage(budget: Budget | undefined): Promise<Buffer> {
    if (this.#message !== undefined) return this.#message
    const length = await this.#readMessageLength()
    budget?.take(length)
    // Streamed into blocks rather than read whole, so what it holds follows the bytes received.
    const field = this.#source.reader.stream(length)[Symbol.asyncIterator]()
    this.#message = await gather(async () => {
      const next = await field.next()
      return next.done === true ? undefined : next.value
    }, length)
    this.#messageDone = true
    return this.#message
  }
}

/** A running total of declared sizes against `maxBufferedBytes`, checked before reading. */
class Budget {
  readonly #limit: number
  #used = 0

  constructor(limit: number) {
    this.#limit = limit
  }

  /** @throws {TejBufferLimitError} when `size` more would pass the limit */
  take(size: number): void {
    if (this.#used + size > this.#limit) throw new TejBufferLimitError(this.#used + size, this.#limit)
    this.#used += size
  }
}

/**
 * The `size` bytes of a field, from `next()` until it gives `undefined`, in one buffer: the piece
 * itself when it is the whole field, else the pieces copied into blocks as they come.
 */
async function gather(next: () => Promise<Buffer | undefined>, size: number): Promise<Buffer> {
  const first = await next()
  if (first === undefined) return Buffer.alloc(0)
  if (first.length === size) return first
  const blocks = new Blocks(size)
  blocks.add(first)
  for (let piece = await next(); piece !== undefined; piece = await next()) blocks.add(piece)
  return blocks.join()
}

/** The first block of a field being gathered; each next one is as large as those before it. */
const FIRST_BLOCK_BYTES = 65_536

/**
 * The pieces of a field of known size, copied into blocks that double as they fill, up to that
 * size. Pieces kept as they came would each cost an object and pin the read they view, which a
 * peer sending 1-byte segments multiplies a hundredfold; blocks hold at most twice the bytes
 * received, however they were cut.
 */
class Blocks {
  readonly #size: number
  readonly #blocks: Buffer[] = []
  #current: Buffer | undefined
  #fill = 0
  #allocated = 0

  constructor(size: number) {
    this.#size = size
  }

  /** Copies `piece` in; the pieces never add up to more than the size. */
  add(piece: Buffer): void {
    for (let offset = 0; offset < piece.length; ) {
      let current = this.#current
      if (current === undefined || this.#fill === current.length) {
        current = Buffer.allocUnsafe(Math.min(this.#size - this.#allocated, Math.max(FIRST_BLOCK_BYTES, this.#allocated)))
        this.#blocks.push(current)
        this.#current = current
        this.#allocated += current.length
        this.#fill = 0
      }
      const count = piece.copy(current, this.#fill, offset)
      this.#fill += count
      offset += count
    }
  }

  /** The whole field, once every piece is in. */
  join(): Buffer {
    const [only] = this.#blocks
    return this.#blocks.length === 1 && only !== undefined ? only : Buffer.concat(this.#blocks, this.#size)
  }
}

class IncomingFile implements TejIncomingFile {
  readonly name: string
  readonly size: number
  readonly index: number
  readonly #frame: IncomingFrame
  readonly #field: FieldStream
  readonly #pieces: AsyncIterator<Buffer>
  readonly #limits: ResolvedLimits
  #dropped = false

  constructor(frame: IncomingFrame, index: number, name: string, size: number, field: FieldStream, limits: ResolvedLimits) {
    this.#frame = frame
    this.index = index
    this.name = name
    this.size = size
    this.#field = field
    this.#pieces = field[Symbol.asyncIterator]()
    this.#limits = limits
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (;;) {
      const chunk = await this.#frame.run(() => this.#piece())
      if (chunk === undefined) return
      yield chunk
    }
  }

  readable(): Readable {
    // Readable.from rather than the field's own view, so its errors carry TEJ codes.
    return Readable.from(this, { objectMode: false })
  }

  bytes(): Promise<Uint8Array> {
    return this.#frame.run(() => {
      if (this.size > this.#limits.maxBufferedBytes) throw new TejBufferLimitError(this.size, this.#limits.maxBufferedBytes)
      return this.collect()
    })
  }

  skip(): Promise<void> {
    return this.#frame.run(() => this.drop())
  }

  /** The rest of the data in one buffer; the caller has checked the size against its budget. */
  async collect(): Promise<Buffer> {
    this.#checkOpen()
    return gather(() => this.#piece(), this.#field.remaining)
  }

  /** Skips what is left; later reads of this file reject. */
  async drop(): Promise<void> {
    this.#dropped = true
    await this.#field.skip()
  }

  async #piece(): Promise<Buffer | undefined> {
    this.#checkOpen()
    const next = await this.#pieces.next()
    return next.done === true ? undefined : next.value
  }

  #checkOpen(): void {
    if (this.#dropped) throw new UsageError(`file ${this.index} was skipped`)
  }
}
