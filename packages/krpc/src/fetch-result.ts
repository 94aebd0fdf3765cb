// A binary reply in a browser, and the reading of reply bodies up to a limit.
import { UsageError } from '@proto/framing/errors'
import { BINARY_RESULT } from './binary-result.ts'
import { KrpcClosedError, KrpcResultTooLargeError } from './errors.ts'
import type { BinaryResult } from './types.ts'

/** Reads a body of at most `limit` bytes. */
export async function readLimited(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0)
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const step = await reader.read().catch((err: unknown) => {
      throw new KrpcClosedError('the reply ended early', { cause: err })
    })
    if (step.done) break
    size += step.value.byteLength
    if (size > limit) {
      await reader.cancel()
      throw new KrpcResultTooLargeError(size, limit)
    }
    chunks.push(step.value)
  }
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0]
  const out = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.byteLength
  }
  return out
}

/** A binary reply read through fetch. */
export class FetchBinaryResult implements BinaryResult {
  readonly [BINARY_RESULT] = true
  readonly size: number | undefined
  readonly finished: Promise<void>
  #taken = false
  #done: () => void = () => {}
  readonly #body: ReadableStream<Uint8Array> | null
  readonly #limit: number

  constructor(res: Response, limit: number) {
    this.#body = res.body
    this.#limit = limit
    const header = res.headers.get('content-length')
    const length = Number(header)
    this.size = header !== null && Number.isSafeInteger(length) ? length : undefined
    this.finished = new Promise((resolve) => {
      this.#done = resolve
    })
  }

  get taken(): boolean {
    return this.#taken
  }

  #take(): ReadableStream<Uint8Array> {
    if (this.#taken) throw new UsageError('a binary result can be read once')
    this.#taken = true
    return this.#body ?? new ReadableStream({ start: (controller) => controller.close() })
  }

  stream(): ReadableStream<Uint8Array> {
    const reader = this.#take().getReader()
    const done = this.#done
    // Wrapped so the client learns when the body is finished, whichever way it ends.
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const step = await reader.read()
          if (step.done) {
            controller.close()
            done()
          } else controller.enqueue(step.value)
        } catch (err) {
          controller.error(new KrpcClosedError('the binary reply ended early', { cause: err }))
          done()
        }
      },
      async cancel(reason) {
        try {
          await reader.cancel(reason)
        } finally {
          done()
        }
      },
    })
  }

  async bytes(): Promise<Uint8Array> {
    const body = this.#take()
    try {
      if (this.size !== undefined && this.size > this.#limit) {
        await body.cancel()
        throw new KrpcResultTooLargeError(this.size, this.#limit)
      }
      return await readLimited(body, this.#limit)
    } finally {
      this.#done()
    }
  }

  async cancel(): Promise<void> {
    this.#taken = true
    try {
      await this.#body?.cancel()
    } finally {
      this.#done()
    }
  }
}
