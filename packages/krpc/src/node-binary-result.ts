// A binary reply on Node, and the reading of reply bodies up to a limit.
import type { IncomingMessage } from 'node:http'
import { UsageError } from '@proto/framing'
import { BINARY_RESULT } from './binary-result.ts'
import { KrpcClosedError, KrpcResultTooLargeError } from './errors.ts'
import type { BinaryResult } from './types.ts'

/** A binary reply on Node: the response body, read once. */
export class NodeBinaryResult implements BinaryResult {
  readonly [BINARY_RESULT] = true
  readonly size: number | undefined
  /** Settles once the body is read, cancelled or broken. */
  readonly finished: Promise<void>
  #taken = false
  readonly #res: IncomingMessage
  readonly #limit: number

  constructor(res: IncomingMessage, limit: number) {
    this.#res = res
    this.#limit = limit
    const length = Number(res.headers['content-length'])
    this.size = res.headers['content-length'] !== undefined && Number.isSafeInteger(length) ? length : undefined
    this.finished = new Promise((resolve) => res.once('close', resolve))
    res.pause()
  }

  get taken(): boolean {
    return this.#taken
  }

  #take(): IncomingMessage {
    if (this.#taken) throw new UsageError('a binary result can be read once')
    this.#taken = true
    return this.#res
  }

  stream(): ReadableStream<Uint8Array> {
    const res = this.#take()
    return new ReadableStream<Uint8Array>({
      start(controller) {
        res.on('data', (chunk: Buffer) => {
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
          if ((controller.desiredSize ?? 0) <= 0) res.pause()
        })
        res.once('end', () => controller.close())
        res.once('close', () => {
          if (!res.complete) controller.error(new KrpcClosedError('the binary reply ended early'))
        })
      },
      pull() {
        res.resume()
      },
      cancel() {
        res.destroy()
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: 65_536 }))
  }

  async bytes(): Promise<Uint8Array> {
    const res = this.#take()
    if (this.size !== undefined && this.size > this.#limit) {
      res.destroy()
      throw new KrpcResultTooLargeError(this.size, this.#limit)
    }
    return readBody(res, this.#limit)
  }

  cancel(): Promise<void> {
    this.#taken = true
    this.#res.destroy()
    return this.finished
  }
}

function readBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => collectBody(res, limit, resolve, reject))
}

/**
 * Reads a reply body of at most `limit` bytes into `onBody`; a longer or cut-short body goes to
 * `onFail` instead. Callbacks rather than a promise: a small call's reply takes one step less.
 */
export function collectBody(res: IncomingMessage, limit: number, onBody: (bytes: Buffer) => void, onFail: (err: Error) => void): void {
  const chunks: Buffer[] = []
  let size = 0
  res.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (size > limit) {
      res.destroy()
      onFail(new KrpcResultTooLargeError(size, limit))
      return
    }
    chunks.push(chunk)
  })
  res.once('end', () => onBody(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, size)))
  res.once('close', () => {
    if (!res.complete) onFail(new KrpcClosedError('the reply ended early'))
  })
  res.resume()
}
