// File inputs of the Node client: what `asFile` makes, and each input as the part it will be sent as.
import { createReadStream, ReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { Readable } from 'node:stream'
import { checkLimit, UsageError } from '@proto/framing'
import { KrpcFileSizeMismatchError } from './errors.ts'
import type { KrpcFileInput, KrpcFileOptions, KrpcFileSource } from './types.ts'

type FileData = Blob | Uint8Array | Readable | ReadableStream<Uint8Array> | { path: string }

/** What `asFile` makes: the data and the options it fixed, hidden behind `KrpcFileSource`. */
class FileSource {
  readonly #data: FileData
  readonly #options: KrpcFileOptions

  constructor(data: FileData, options: KrpcFileOptions) {
    this.#data = data
    this.#options = options
  }

  static unwrap(source: FileSource): { data: FileData; options: KrpcFileOptions } {
    return { data: source.#data, options: source.#options }
  }
}

function checkFileOptions(opts: KrpcFileOptions): KrpcFileOptions {
  const { filename, mimeType, size } = opts
  if (filename !== undefined && typeof filename !== 'string') throw new UsageError('filename must be a string')
  if (mimeType !== undefined && (typeof mimeType !== 'string' || /[\r\n]/.test(mimeType))) {
    throw new UsageError('mimeType must be a string without CR or LF')
  }
  if (size !== undefined) checkLimit('size', size, 0, 0)
  return opts
}

function isPathInput(value: unknown): value is { path: string } {
  return typeof value === 'object' && value !== null && !(value instanceof Readable)
    && typeof (value as { path?: unknown }).path === 'string' && Object.keys(value).length === 1
}

/** True for what `call()` sends as a file part. */
export function isFileInput(value: unknown): value is KrpcFileInput {
  return value instanceof Uint8Array || value instanceof Blob || value instanceof FileSource
    || value instanceof Readable || value instanceof ReadableStream
}

/**
 * A file input with a name, type or size of your choosing, or one read from a path (streamed,
 * never buffered; its size comes from `stat`).
 * @throws {UsageError} for a bad option or input
 */
export function asFile(data: KrpcFileInput | { path: string }, opts: KrpcFileOptions = {}): KrpcFileSource {
  checkFileOptions(opts)
  if (data instanceof FileSource) {
    const inner = FileSource.unwrap(data)
    return new FileSource(inner.data, { ...inner.options, ...opts }) as unknown as KrpcFileSource
  }
  if (!isFileInput(data) && !isPathInput(data)) throw new UsageError('asFile() takes a Blob, Uint8Array, stream or { path }')
  return new FileSource(data as FileData, opts) as unknown as KrpcFileSource
}


/** A file part as it will be written. */
export interface Outgoing {
  readonly field: string
  readonly filename: string
  readonly mimeType: string
  readonly size: number | undefined
  readonly body: Uint8Array | (() => AsyncIterable<Uint8Array | string>)
}

const OCTET_STREAM = 'application/octet-stream'
const READ_CHUNK = 262_144

/** The part `input` is sent as, measured: a path is `stat`ed unless its size is given. */
export async function outgoing(field: string, input: KrpcFileInput): Promise<Outgoing> {
  let data: FileData
  let options: KrpcFileOptions = {}
  if (input instanceof FileSource) ({ data, options } = FileSource.unwrap(input))
  else data = input as FileData
  const part = (filename: string, mimeType: string, size: number | undefined, body: Outgoing['body']): Outgoing => ({
    field,
    filename: options.filename ?? filename,
    mimeType: options.mimeType ?? mimeType,
    size: options.size ?? size,
    body,
  })
  if (data instanceof Uint8Array) {
    if (options.size !== undefined && options.size !== data.byteLength) {
      throw new KrpcFileSizeMismatchError(field, options.size, data.byteLength)
    }
    return part('blob', OCTET_STREAM, data.byteLength, data)
  }
  if (data instanceof Blob) {
    const blob = data
    const name = (blob as { name?: unknown }).name
    return part(typeof name === 'string' ? name : 'blob', blob.type === '' ? OCTET_STREAM : blob.type, blob.size,
      () => blob.stream())
  }
  if (data instanceof Readable) {
    const stream = data
    const path = stream instanceof ReadStream && typeof stream.path === 'string' ? basename(stream.path) : 'blob'
    return part(path, OCTET_STREAM, undefined, () => stream)
  }
  if (data instanceof ReadableStream) {
    const stream = data
    return part('blob', OCTET_STREAM, undefined, () => stream)
  }
  const path = data.path
  const size = options.size ?? (await stat(path)).size
  return part(basename(path), OCTET_STREAM, size, () => createReadStream(path, { highWaterMark: READ_CHUNK }))
}
