// The `browser` build of `@proto/krpc/client`: fetch and FormData only. It and what it imports use
// no `node:` module and no Buffer, and from @proto/framing only `@proto/framing/errors`.
import { checkLimit, UsageError } from '@proto/framing/errors'
import { BINARY_RESULT, CallGuard, checkVia, clientUrl, createProxy, InFlight, interpretJson, isBinaryResult, isJsonType, mediaType, prepareCall, unexpectedReply } from './call.ts'
import type { BinaryResult, KrpcProxy } from './call.ts'
import type { KrpcCallOptions, KrpcClient, KrpcClientOptions, KrpcFileInput, KrpcFileOptions, KrpcFileSource } from './client.ts'
import { DEFAULT_MAX_RESULT_BYTES, DEFAULT_TIMEOUT } from './constants.ts'
import { KrpcClosedError, KrpcConnectError, KrpcFileSizeMismatchError, KrpcResultTooLargeError } from './errors.ts'

export { isBinaryResult }
export type { BinaryResult, KrpcCallOptions, KrpcClient, KrpcClientOptions, KrpcFileInput, KrpcFileOptions, KrpcFileSource, KrpcProxy }

const OCTET_STREAM = 'application/octet-stream'

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

/** True for what `call()` sends as a file part in a browser: a Blob, File or Uint8Array. */
export function isFileInput(value: unknown): value is Blob | Uint8Array | FileSource {
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
function toPart(field: string, input: Blob | Uint8Array | FileSource): { blob: Blob; filename: string } {
  const { data, options } = input instanceof FileSource ? FileSource.unwrap(input) : { data: input, options: {} as KrpcFileOptions }
  const size = data instanceof Blob ? data.size : data.byteLength
  if (options.size !== undefined && options.size !== size) throw new KrpcFileSizeMismatchError(field, options.size, size)
  const name = data instanceof Blob ? (data as { name?: unknown }).name : undefined
  const filename = options.filename ?? (typeof name === 'string' ? name : 'blob')
  const type = options.mimeType ?? (data instanceof Blob && data.type !== '' ? data.type : OCTET_STREAM)
  const blob = data instanceof Blob && data.type === type ? data : new Blob([data], { type })
  return { blob, filename }
}

async function readLimited(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array> {
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

class FetchBinaryResult implements BinaryResult {
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

class Client implements KrpcClient {
  readonly methods: KrpcProxy
  readonly closed: Promise<void>
  readonly #url: URL
  readonly #headers: Record<string, string>
  readonly #timeout: number
  readonly #maxResultBytes: number
  readonly #via: 'post' | 'get'
  readonly #pmhparams: unknown
  readonly #inFlight = new InFlight()
  #closing: Promise<void> | undefined
  #resolveClosed: () => void = () => {}

  constructor(options: KrpcClientOptions) {
    const base = (globalThis as { location?: { href?: string } }).location?.href
    this.#url = clientUrl(options, base)
    this.#headers = { ...options.headers }
    this.#timeout = checkLimit('timeout', options.timeout, DEFAULT_TIMEOUT)
    this.#maxResultBytes = checkLimit('maxResultBytes', options.maxResultBytes, DEFAULT_MAX_RESULT_BYTES)
    this.#via = checkVia(options.via)
    this.#pmhparams = options.pmhparams
    this.methods = createProxy((method, args) => this.call(method, args))
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve
    })
  }

  proxy<T = KrpcProxy>(opts: Omit<KrpcCallOptions, 'files'> = {}): T {
    return createProxy((method, args) => this.call(method, args, opts)) as T
  }

  async call(method: string, params?: unknown, opts: KrpcCallOptions = {}): Promise<unknown> {
    let init: { url: URL; method: 'GET' | 'POST'; body: FormData | URLSearchParams | undefined }
    if (this.#closing !== undefined) throw new KrpcClosedError('the client is closed')
    const via = checkVia(opts.via ?? this.#via)
    const call = prepareCall(method, params, opts.pmhparams ?? this.#pmhparams, opts.files, isFileInput)
    const timeout = checkLimit('timeout', opts.timeout, this.#timeout)
    if (via === 'get') {
      if (call.files.length > 0) throw new UsageError("files cannot be sent with via: 'get'")
      const url = new URL(this.#url)
      url.searchParams.append('json', call.text)
      init = { url, method: 'GET', body: undefined }
    } else if (call.files.length === 0) {
      init = { url: this.#url, method: 'POST', body: new URLSearchParams({ json: call.text }) }
    } else {
      const form = new FormData()
      form.append('json', call.text)
      for (const { field, input } of call.files) {
        const { blob, filename } = toPart(field, input)
        form.append(field, blob, filename)
      }
      init = { url: this.#url, method: 'POST', body: form }
    }
    this.#inFlight.callStarted()
    try {
      return await this.#send(init, opts.signal ?? undefined, timeout)
    } finally {
      this.#inFlight.callEnded()
    }
  }

  async #send(init: { url: URL; method: 'GET' | 'POST'; body: FormData | URLSearchParams | undefined },
    userSignal: AbortSignal | undefined, timeout: number): Promise<unknown> {
    const guard = new CallGuard(userSignal, timeout)
    // fetch wants a signal; in a browser one controller per call is the cheap part.
    const controller = new AbortController()
    guard.onStop((reason) => controller.abort(reason))
    let handedOver = false
    try {
      let res: Response
      try {
        const request: RequestInit = { method: init.method, headers: this.#headers, signal: controller.signal }
        if (init.body !== undefined) request.body = init.body
        res = await fetch(init.url, request)
      } catch (err) {
        if (guard.stopped) throw guard.reason
        throw new KrpcConnectError(`no reply from ${init.url.host}`, { cause: err })
      }
      const status = res.status
      const type = mediaType(res.headers.get('content-type'))
      if (type === OCTET_STREAM && res.ok) {
        const binary = new FetchBinaryResult(res, this.#maxResultBytes)
        this.#inFlight.binaryOpened(binary, () => guard.dispose())
        handedOver = true
        return binary
      }
      if (!isJsonType(type)) {
        await res.body?.cancel()
        throw unexpectedReply(status, res.statusText, `Content-Type ${type === '' ? 'missing' : type}`)
      }
      const declared = Number(res.headers.get('content-length') ?? Number.NaN)
      if (Number.isSafeInteger(declared) && declared > this.#maxResultBytes) {
        await res.body?.cancel()
        throw new KrpcResultTooLargeError(declared, this.#maxResultBytes)
      }
      let bytes: Uint8Array
      try {
        bytes = await readLimited(res.body, this.#maxResultBytes)
      } catch (err) {
        if (guard.stopped) throw guard.reason
        throw err
      }
      return interpretJson(status, res.statusText, new TextDecoder().decode(bytes))
    } finally {
      // A binary result keeps the caller's signal until its body is done; the timer stops here.
      if (handedOver) guard.stopTimer()
      else guard.dispose()
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    await this.#inFlight.drained()
    this.#resolveClosed()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/**
 * A client for `url` (relative URLs resolve against the page), or `host` and `port`. Sends
 * nothing until the first call.
 */
// eslint-disable-next-line @typescript-eslint/require-await -- async so a bad option rejects rather than throws
export async function connect(options: KrpcClientOptions = {}): Promise<KrpcClient> {
  options.signal?.throwIfAborted()
  return new Client(options)
}
