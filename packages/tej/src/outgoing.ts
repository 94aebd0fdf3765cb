// Frames on their way out: checked before they queue, sized, then written piece by piece with backpressure.
import type { Buffer } from 'node:buffer'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { ErrorCode as ProtoErrorCode, UsageError, isProtoError, toBytes } from '@proto/framing'
import type { CallOptions, FramedConnection } from '@proto/framing'
import { checkSize, checkStatus, encodeFileHead, encodeFrameHead, encodeMessageHead, encodeName } from './codec.ts'
import { FILE_READ_BYTES, WRITE_SLICE_BYTES } from './constants.ts'
import { TejFileSizeMismatchError, TejStallTimeoutError } from './errors.ts'
import type { TejFileSource, TejOutgoingFrame } from './types.ts'

const EMPTY = new Uint8Array(0)

type Body = { data: Uint8Array } | { path: string } | { stream: AsyncIterable<Uint8Array> }

interface PlannedFile {
  readonly name: string
  readonly nameBytes: Buffer
  readonly body: Body
  /** Unknown for `{ path }` until `sizePlan` asks `stat`. */
  readonly size: number | undefined
}

/** A checked frame, ready to write once its paths are sized. */
export interface FramePlan {
  readonly status: number
  readonly files: readonly PlannedFile[]
  readonly message: Uint8Array
}

/**
 * Checks a frame before anything is queued.
 * @throws {TejInvalidStatusError} for a status outside 0..127
 * @throws {UsageError} for a name over 65 535 UTF-8 bytes, a bad size or a source of no known kind
 */
export function planFrame(frame: TejOutgoingFrame): FramePlan {
  const status = checkStatus(frame.status ?? 0)
  const files = (frame.files ?? []).map(planFile)
  return { status, files, message: bytesOf(frame.message ?? EMPTY, 'the message') }
}

function bytesOf(value: unknown, what: string): Uint8Array {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw new UsageError(`${what} must be a Uint8Array or a string`)
  return toBytes(value)
}

function planFile(source: TejFileSource): PlannedFile {
  const name = source.name
  if (typeof name !== 'string') throw new UsageError('every file needs a string name')
  const nameBytes = encodeName(name)
  if ('data' in source) {
    const data = bytesOf(source.data, `data of ${JSON.stringify(name)}`)
    return { name, nameBytes, body: { data }, size: data.length }
  }
  if ('path' in source) {
    if (typeof source.path !== 'string') throw new UsageError(`path of ${JSON.stringify(name)} must be a string`)
    return { name, nameBytes, body: { path: source.path }, size: undefined }
  }
  if ('stream' in source) {
    if (typeof (source.stream as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] !== 'function') {
      throw new UsageError(`stream of ${JSON.stringify(name)} must be a Readable or an async iterable`)
    }
    return { name, nameBytes, body: { stream: source.stream }, size: checkSize(source.size, `size of ${JSON.stringify(name)}`) }
  }
  throw new UsageError(`file ${JSON.stringify(name)} needs data, path or stream`)
}

async function sizeOfPath(path: string): Promise<number> {
  let stats
  try {
    stats = await stat(path)
  } catch (err) {
    throw new UsageError(`cannot read ${path}`, { cause: err })
  }
  if (!stats.isFile()) throw new UsageError(`${path} is not a regular file`)
  return stats.size
}

/** Sizes the paths of a checked plan with `stat`, all at once. */
export async function sizePlan(plan: FramePlan): Promise<{ plan: FramePlan; sizes: number[] }> {
  const sizes = plan.files.map(async ({ body, size }) => ('path' in body ? sizeOfPath(body.path) : (size ?? 0)))
  return { plan, sizes: await Promise.all(sizes) }
}

/**
 * Where a frame goes: the connection, and how long each of its writes may wait for the peer to
 * take the bytes (`Infinity`: as long as it takes).
 */
export interface FrameOutput {
  readonly conn: FramedConnection
  readonly stallTimeout: number
}

/**
 * Writes a sized frame. Small pieces share writes; in-memory data goes in slices; stream
 * bodies go chunk by chunk, each write awaited, so nothing is held beyond one slice.
 * `started` is called just before the first byte is queued.
 * @throws {TejFileSizeMismatchError} when a body yields fewer or more bytes than its size
 * @throws {TejStallTimeoutError} when a write waits `stallTimeout` ms for the peer to take it
 */
export async function writeFrame(
  output: FrameOutput,
  { plan, sizes }: { plan: FramePlan; sizes: number[] },
  ended: AbortSignal,
  started: () => void,
): Promise<void> {
  const write = stallGuarded(output)
  const out = new SliceWriter(write)
  started()
  await out.add(encodeFrameHead(plan.status, plan.files.length))
  for (const [index, file] of plan.files.entries()) {
    const size = sizes[index] ?? 0
    await out.add(encodeFileHead(file.nameBytes, size))
    const body = file.body
    if ('data' in body) await out.add(body.data)
    else {
      await out.flush()
      const stream = 'path' in body ? createReadStream(body.path, { highWaterMark: FILE_READ_BYTES }) : body.stream
      await writeStream(write, file.name, size, stream, ended)
    }
  }
  await out.add(encodeMessageHead(plan.message.length))
  await out.add(plan.message)
  await out.flush()
}

type Write = (pieces: Uint8Array | readonly Uint8Array[]) => Promise<void>

/**
 * `conn.write` with the stall limit as each write's own timeout. Framing's timeout only ends the
 * wait, so the bytes stay queued; the caller cuts the frame short.
 */
function stallGuarded({ conn, stallTimeout }: FrameOutput): Write {
  if (stallTimeout === Number.POSITIVE_INFINITY) return (pieces) => conn.write(pieces)
  const opts: CallOptions = { timeout: stallTimeout }
  return async (pieces) => {
    try {
      await conn.write(pieces, opts)
    } catch (err) {
      // The only deadline on these writes is ours.
      if (isProtoError(err) && err.code === ProtoErrorCode.TIMEOUT) throw new TejStallTimeoutError(stallTimeout, { cause: err })
      throw err
    }
  }
}

async function writeStream(
  write: Write,
  name: string,
  size: number,
  stream: AsyncIterable<Uint8Array>,
  ended: AbortSignal,
): Promise<void> {
  const chunks = stream[Symbol.asyncIterator]()
  let written = 0
  let done = false
  try {
    for (;;) {
      const next = await nextOrEnded(chunks, ended)
      if (next.done === true) {
        done = true
        break
      }
      const chunk: unknown = next.value
      if (!(chunk instanceof Uint8Array)) throw new UsageError(`file ${JSON.stringify(name)} yielded a ${typeof chunk}, not bytes`)
      if (written + chunk.length > size) throw new TejFileSizeMismatchError(name, size, written + chunk.length)
      written += chunk.length
      if (chunk.length > 0) await write(chunk)
    }
  } finally {
    // Stops and releases the source (a Readable is destroyed) when the loop did not finish it.
    if (!done) chunks.return?.().catch(() => undefined)
  }
  if (written !== size) throw new TejFileSizeMismatchError(name, size, written)
}

/**
 * The source's next chunk, or `ended.reason` once the connection ends, so that a source that
 * never yields does not hold the queue. Each wait has a listener and a promise of its own, both
 * gone when it settles: one promise raced for the whole file would keep a reaction per chunk, and
 * its listener on the connection's signal, until the connection ends.
 */
async function nextOrEnded(chunks: AsyncIterator<unknown>, ended: AbortSignal): Promise<IteratorResult<unknown>> {
  ended.throwIfAborted()
  let onEnded = noop
  const gone = new Promise<undefined>((resolve) => {
    onEnded = () => resolve(undefined)
    ended.addEventListener('abort', onEnded, { once: true })
  })
  try {
    const next = await Promise.race([chunks.next(), gone])
    if (next === undefined) throw ended.reason
    return next
  } finally {
    ended.removeEventListener('abort', onEnded)
  }
}

const noop = (): void => undefined

/** Gathers small pieces into writes of up to `WRITE_SLICE_BYTES`, splitting large ones. */
class SliceWriter {
  readonly #write: Write
  #pieces: Uint8Array[] = []
  #bytes = 0

  constructor(write: Write) {
    this.#write = write
  }

  async add(piece: Uint8Array): Promise<void> {
    for (let offset = 0; offset < piece.length; ) {
      const count = Math.min(piece.length - offset, WRITE_SLICE_BYTES - this.#bytes)
      this.#pieces.push(count === piece.length ? piece : piece.subarray(offset, offset + count))
      this.#bytes += count
      offset += count
      if (this.#bytes === WRITE_SLICE_BYTES) await this.flush()
    }
  }

  async flush(): Promise<void> {
    if (this.#bytes === 0) return
    const pieces = this.#pieces
    this.#pieces = []
    this.#bytes = 0
    await this.#write(pieces)
  }
}
