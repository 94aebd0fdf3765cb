// File inputs of the browser client: Blob, File and Uint8Array, and each as the part FormData sends.
import { checkLimit, UsageError } from '@proto/framing/errors'
import { KrpcFileSizeMismatchError } from './errors.ts'
import type { KrpcFileInput, KrpcFileOptions, KrpcFileSource } from './types.ts'

const OCTET_STREAM = 'application/octet-stream'

/** What `asFile` makes in the browser build: the data and the options it fixed, hidden behind `KrpcFileSource`. */
class FileSource {
  readonly #data: Blob | Uint8Array
  readonly #options: KrpcFileOptions

  constructor(data: Blob | Uint8Array, options: KrpcFileOptions) {
    this.#data = data
    this.#options = options
  }

  static unwrap(source: FileSource): { data: Blob | Uint8Array; options: KrpcFileOptions } {
    return { data: source.#data, options: source.#options }
  }
}

/** A file input as the browser client finds it in a call. */
export type BrowserFileInput = Blob | Uint8Array | FileSource

/** True for what `call()` sends as a file part in a browser: a Blob, File or Uint8Array. */
export function isFileInput(value: unknown): value is BrowserFileInput {
  return value instanceof Blob || value instanceof Uint8Array || value instanceof FileSource
}

/**
 * A Blob, File or Uint8Array with a file name, type or size of your choosing.
 * @throws {UsageError} for streams and paths, which browsers cannot send here, or a bad option
 */
export function asFile(data: KrpcFileInput | { path: string }, opts: KrpcFileOptions = {}): KrpcFileSource {
  const { filename, mimeType, size } = opts
  if (filename !== undefined && typeof filename !== 'string') throw new UsageError('filename must be a string')
  if (mimeType !== undefined && typeof mimeType !== 'string') throw new UsageError('mimeType must be a string')
  if (size !== undefined) checkLimit('size', size, 0, 0)
  if (data instanceof FileSource) {
    const inner = FileSource.unwrap(data)
    return new FileSource(inner.data, { ...inner.options, ...opts }) as unknown as KrpcFileSource
  }
  if (!(data instanceof Blob) && !(data instanceof Uint8Array)) {
    throw new UsageError('in a browser, file inputs are Blob, File or Uint8Array')
  }
  return new FileSource(data, opts) as unknown as KrpcFileSource
}

/** A file input as a Blob with the part's name and type. */
export function toPart(field: string, input: BrowserFileInput): { blob: Blob; filename: string } {
  const { data, options } = input instanceof FileSource ? FileSource.unwrap(input) : { data: input, options: {} as KrpcFileOptions }
  const size = data instanceof Blob ? data.size : data.byteLength
  if (options.size !== undefined && options.size !== size) throw new KrpcFileSizeMismatchError(field, options.size, size)
  const name = data instanceof Blob ? (data as { name?: unknown }).name : undefined
  const filename = options.filename ?? (typeof name === 'string' ? name : 'blob')
  const type = options.mimeType ?? (data instanceof Blob && data.type !== '' ? data.type : OCTET_STREAM)
  const blob = data instanceof Blob && data.type === type ? data : new Blob([data], { type })
  return { blob, filename }
}
