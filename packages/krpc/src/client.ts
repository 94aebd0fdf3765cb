import { randomBytes } from 'node:crypto'
import { createReadStream, ReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import type { ClientRequest, IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { basename } from 'node:path'
import { Readable } from 'node:stream'
import { checkLimit, UsageError } from '@proto/framing'
import type { CallOptions } from '@proto/framing'
import { BINARY_RESULT, CallGuard, checkVia, clientUrl, createProxy, InFlight, interpretJson, isBinaryResult, isJsonType, mediaType, prepareCall, unexpectedReply } from './call.ts'
import type { BinaryResult, KrpcProxy, PreparedCall } from './call.ts'
import { DEFAULT_MAX_RESULT_BYTES, DEFAULT_TIMEOUT } from './constants.ts'
import { KrpcClosedError, KrpcConnectError, KrpcFileSizeMismatchError, KrpcResultTooLargeError } from './errors.ts'
import { firstHeader } from './headers.ts'

export { isBinaryResult }
export type { BinaryResult, KrpcProxy }

/** What a file argument can be made from. */
export type KrpcFileInput = Blob | Uint8Array | KrpcFileSource | Readable | ReadableStream<Uint8Array>

/** Per-file details for `asFile`. */
export interface KrpcFileOptions {
  /** @default the File's name, the path's basename, else `blob` */
  filename?: string
  /** @default the Blob's type, else `application/octet-stream` */
  mimeType?: string
  /** Bytes the source will give, so the body can have a `Content-Length`. @default measured where possible */
  size?: number
}

type FileData = Blob | Uint8Array | Readable | ReadableStream<Uint8Array> | { path: string }

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

/** A file input with its name, type or size fixed; made by `asFile`. */
export type KrpcFileSource = FileSource

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
    return new FileSource(inner.data, { ...inner.options, ...opts })
  }
  if (!isFileInput(data) && !isPathInput(data)) throw new UsageError('asFile() takes a Blob, Uint8Array, stream or { path }')
  return new FileSource(data, opts)
}

/** A file part as it will be written. */
interface Outgoing {
  readonly field: string
  readonly filename: string
  readonly mimeType: string
  readonly size: number | undefined
  readonly body: Uint8Array | (() => AsyncIterable<Uint8Array | string>)
}

const OCTET_STREAM = 'application/octet-stream'
/** Errors that mean no connection was made (a request never sent), as opposed to one that broke. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT',
  'EADDRNOTAVAIL', 'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED'])
const READ_CHUNK = 262_144
const NO_FILES: readonly Outgoing[] = []
const NO_OPTIONS: KrpcCallOptions = Object.freeze({})

async function outgoing(field: string, input: KrpcFileInput): Promise<Outgoing> {
  let data: FileData
  let options: KrpcFileOptions = {}
  if (input instanceof FileSource) ({ data, options } = FileSource.unwrap(input))
  else data = input
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

// eslint-disable-next-line @typescript-eslint/require-await -- async so that what it throws rejects
async function rejection(reason: unknown): Promise<never> {
  throw reason
}

function escapeFilename(name: string): string {
  return name.replace(/["\r\n]/g, (c) => (c === '"' ? '%22' : c === '\r' ? '%0D' : '%0A'))
}

function partHead(boundary: string, file: Outgoing): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${escapeFilename(file.filename)}"`
    + `\r\nContent-Type: ${file.mimeType}\r\n\r\n`
}

/** Tells the body writer to stop: the reply came first, or the call failed. */
class UploadStop {
  stopped = false
  #wake: (() => void) | undefined

  stop(): void {
    this.stopped = true
    this.#wake?.()
  }

  /** Resolves on `'drain'`, on close, or when stopped. */
  drain(req: ClientRequest): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        req.off('drain', done)
        req.off('close', done)
        this.#wake = undefined
        resolve()
      }
      req.once('drain', done)
      req.once('close', done)
      this.#wake = done
    })
  }
}

// Form encoding, as URLSearchParams writes it but without building one per call: call text is
// ASCII, so encodeURIComponent plus the few characters it leaves that forms escape.
const SPACE = /%20/g
const FORM_EXTRA = /[!'()~]/g

function formEncode(text: string): string {
  const encoded = encodeURIComponent(text).replace(SPACE, '+')
  return encoded.includes('!') || encoded.includes("'") || encoded.includes('(') || encoded.includes(')') || encoded.includes('~')
    ? encoded.replace(FORM_EXTRA, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    : encoded
}

/** Streams the multipart body of section 1.3; returns early when `stop` aborts (an early reply). */
async function writeMultipart(req: ClientRequest, boundary: string, text: string, files: readonly Outgoing[],
  stop: UploadStop): Promise<void> {
  req.write(`--${boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n${text}\r\n`)
  for (const file of files) {
    if (stop.stopped || req.destroyed) return
    req.write(partHead(boundary, file))
    const body = file.body
    if (body instanceof Uint8Array) {
      if (!req.write(body)) await stop.drain(req)
    } else {
      let sent = 0
      for await (const piece of body()) {
        if (stop.stopped || req.destroyed) return
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece
        sent += chunk.byteLength
        if (file.size !== undefined && sent > file.size) throw new KrpcFileSizeMismatchError(file.field, file.size, sent)
        if (!req.write(chunk)) await stop.drain(req)
      }
      if (stop.stopped || req.destroyed) return
      if (file.size !== undefined && sent !== file.size) throw new KrpcFileSizeMismatchError(file.field, file.size, sent)
    }
    req.write('\r\n')
  }
  req.end(`--${boundary}--\r\n`)
}

function contentLength(boundary: string, text: string, files: readonly Outgoing[]): number | undefined {
  let total = Buffer.byteLength(`--${boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n${text}\r\n--${boundary}--\r\n`)
  for (const file of files) {
    if (file.size === undefined) return undefined
    total += Buffer.byteLength(partHead(boundary, file)) + file.size + 2
  }
  return total
}

/** Options of a call; those of `connect()` are the defaults. */
export interface KrpcCallOptions extends CallOptions {
  /** Extra file parts, sent as `__file__:<name>` for references you wrote yourself. @default {} */
  files?: Record<string, KrpcFileInput>
  /** `'get'` sends the call in the query string, as the original also accepts; no files. @default 'post' */
  via?: 'post' | 'get'
  /** Given to the server's pre-method hook. @default null */
  pmhparams?: unknown
}

export interface KrpcClientOptions extends Omit<KrpcCallOptions, 'files'> {
  /** The server's URL. @default `http://<host>:<port>/` */
  url?: string
  /** @default '127.0.0.1' */
  host?: string
  /** @default 8080 */
  port?: number
  /** Sent with every request. @default {} */
  headers?: Record<string, string>
  /** Bytes of a JSON reply, or of a binary one read with `bytes()`. @default 16_777_216 */
  maxResultBytes?: number
}

export interface KrpcClient extends AsyncDisposable {
  /**
   * Calls `method`. Resolves with the result, or a `BinaryResult` for binary replies.
   * @throws {RemoteError} for the server's error; see the README for the rest
   */
  call(method: string, params?: unknown, opts?: KrpcCallOptions): Promise<unknown>
  /** `client.methods.sub.hello('bob')` is `call('sub.hello', ['bob'])`. */
  readonly methods: KrpcProxy
  /** A proxy whose calls all use `opts`. */
  proxy<T = KrpcProxy>(opts?: Omit<KrpcCallOptions, 'files'>): T
  /** Refuses new calls, waits for pending ones, closes the sockets. */
  close(): Promise<void>
  /** Resolves when the client is closed. */
  readonly closed: Promise<void>
}

/** A binary reply on Node: the response body, read once. */
class NodeBinaryResult implements BinaryResult {
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
function collectBody(res: IncomingMessage, limit: number, onBody: (bytes: Buffer) => void, onFail: (err: Error) => void): void {
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

class Client implements KrpcClient {
  readonly methods: KrpcProxy
  readonly closed: Promise<void>
  readonly #url: URL
  readonly #host: string
  readonly #port: number
  readonly #path: string
  readonly #agent: HttpAgent
  readonly #request: typeof httpRequest
  readonly #https: boolean
  readonly #headers: Record<string, string>
  readonly #timeout: number
  readonly #maxResultBytes: number
  readonly #via: 'post' | 'get'
  readonly #pmhparams: unknown
  readonly #inFlight = new InFlight()
  #closing: Promise<void> | undefined
  #resolveClosed: () => void = () => {}

  constructor(options: KrpcClientOptions) {
    this.#url = clientUrl(options)
    this.#https = this.#url.protocol === 'https:'
    if (!this.#https && this.#url.protocol !== 'http:') throw new UsageError(`unsupported protocol ${this.#url.protocol}`)
    // Options made once: node:http would otherwise turn the URL into them on every call.
    this.#host = this.#url.hostname.replace(/^\[(.*)\]$/, '$1')
    this.#port = this.#url.port === '' ? (this.#https ? 443 : 80) : Number(this.#url.port)
    this.#path = `${this.#url.pathname}${this.#url.search}`
    this.#agent = this.#https ? new HttpsAgent({ keepAlive: true, noDelay: true }) : new HttpAgent({ keepAlive: true, noDelay: true })
    this.#request = this.#https ? httpsRequest : httpRequest
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

  call(method: string, params?: unknown, opts: KrpcCallOptions = NO_OPTIONS): Promise<unknown> {
    if (this.#closing !== undefined) return Promise.reject(new KrpcClosedError('the client is closed'))
    let call: PreparedCall<KrpcFileInput>
    let via: 'post' | 'get'
    let timeout: number
    try {
      via = checkVia(opts.via ?? this.#via)
      call = prepareCall(method, params, opts.pmhparams ?? this.#pmhparams, opts.files, isFileInput)
      if (via === 'get' && call.files.length > 0) throw new UsageError("files cannot be sent with via: 'get'")
      timeout = checkLimit('timeout', opts.timeout, this.#timeout)
    } catch (err) {
      return rejection(err)
    }
    this.#inFlight.callStarted()
    const guard = new CallGuard(opts.signal ?? undefined, timeout)
    // A call without files goes out in this turn; file inputs are measured first (a path is stat'ed).
    if (call.files.length > 0) return this.#sendFiles(call, guard)
    if (guard.stopped) return this.#failEarly(guard, guard.reason)
    return this.#roundTrip(call.text, via, NO_FILES, guard)
  }

  async #sendFiles(call: PreparedCall<KrpcFileInput>, guard: CallGuard): Promise<unknown> {
    let files: Outgoing[]
    try {
      files = await Promise.all(call.files.map(({ field, input }) => outgoing(field, input)))
    } catch (err) {
      return this.#failEarly(guard, err)
    }
    if (guard.stopped) return this.#failEarly(guard, guard.reason)
    return this.#roundTrip(call.text, 'post', files, guard)
  }

  /** A call that ends before its request is made. */
  #failEarly(guard: CallGuard, reason: unknown): Promise<never> {
    guard.dispose()
    this.#inFlight.callEnded()
    return rejection(reason)
  }

  /** Sends the request and reads its reply; the call ends with the promise it returns. */
  #roundTrip(text: string, via: 'post' | 'get', files: readonly Outgoing[], guard: CallGuard): Promise<unknown> {
    const headers: Record<string, string> = { ...this.#headers }
    let path = this.#path
    let body: string | undefined
    let boundary: string | undefined
    if (via === 'get') {
      path += `${path.includes('?') ? '&' : '?'}json=${formEncode(text)}`
    } else if (files.length === 0) {
      body = `json=${formEncode(text)}`
      headers['Content-Type'] = 'application/x-www-form-urlencoded'
      headers['Content-Length'] = String(body.length)
    } else {
      boundary = `krpc-${randomBytes(16).toString('hex')}`
      headers['Content-Type'] = `multipart/form-data; boundary=${boundary}`
      const length = contentLength(boundary, text, files)
      if (length !== undefined) headers['Content-Length'] = String(length)
    }
    let req: ClientRequest
    try {
      req = this.#request({
        host: this.#host, port: this.#port, path, method: via === 'get' ? 'GET' : 'POST', headers, agent: this.#agent,
      })
    } catch (err) {
      return this.#failEarly(guard, err)
    }
    return new Promise<unknown>((resolve, reject) => {
      const upload = boundary === undefined ? undefined : new UploadStop()
      let settled = false
      const settle = (): boolean => {
        if (settled) return false
        settled = true
        this.#inFlight.callEnded()
        return true
      }
      const fail = (err: Error): void => {
        if (!settle()) return
        guard.dispose()
        upload?.stop()
        req.destroy()
        reject(err)
      }
      guard.onStop((reason) => fail(reason as Error))
      req.on('error', (err: Error & { code?: unknown }) => {
        fail(typeof err.code === 'string' && CONNECT_FAILURES.has(err.code)
          ? new KrpcConnectError(`cannot connect to ${this.#url.host}`, { cause: err })
          : new KrpcClosedError('the connection ended before a complete reply', { cause: err }))
      })
      req.on('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0
        const type = mediaType(firstHeader(res.rawHeaders, 'content-type'))
        if (type === 'application/octet-stream' && status >= 200 && status < 300) {
          // A binary reply may be the upload streamed back (an echo), so the upload goes on.
          if (!settle()) return
          const binary = new NodeBinaryResult(res, this.#maxResultBytes)
          this.#inFlight.binaryOpened(binary, () => guard.dispose())
          // The timeout ends here; the caller's signal still ends the body.
          guard.stopTimer()
          guard.onStop(() => {
            res.destroy()
            req.destroy()
          })
          resolve(binary)
          return
        }
        // Any other reply is final, so an upload still going (a limit, an unknown method) stops;
        // a request cut short leaves its connection unusable, so it goes once the reply is read.
        const cutShort = !req.writableEnded
        upload?.stop()
        if (!isJsonType(type)) {
          res.resume()
          if (cutShort) res.on('end', () => req.destroy())
          fail(unexpectedReply(status, res.statusMessage ?? '', `Content-Type ${type === '' ? 'missing' : type}`))
          return
        }
        const limit = this.#maxResultBytes
        const declared = Number(firstHeader(res.rawHeaders, 'content-length'))
        if (Number.isSafeInteger(declared) && declared > limit) {
          fail(new KrpcResultTooLargeError(declared, limit))
          return
        }
        collectBody(
          res,
          limit,
          (bytes) => {
            if (cutShort) req.destroy()
            let value: unknown
            try {
              value = interpretJson(status, res.statusMessage ?? '', bytes.toString('utf8'))
            } catch (err) {
              fail(err as Error)
              return
            }
            if (!settle()) return
            guard.dispose()
            resolve(value)
          },
          fail,
        )
      })
      if (body !== undefined) req.end(body)
      else if (boundary === undefined || upload === undefined) req.end()
      else writeMultipart(req, boundary, text, files, upload).catch(fail)
    })
  }

  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    await this.#inFlight.drained()
    this.#agent.destroy()
    this.#resolveClosed()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/**
 * A client for `url` (or `host` and `port`). Sends nothing until the first call; `signal`
 * aborts the connect itself, the other call options are defaults for every call.
 */
// eslint-disable-next-line @typescript-eslint/require-await -- async so a bad option rejects rather than throws
export async function connect(options: KrpcClientOptions = {}): Promise<KrpcClient> {
  options.signal?.throwIfAborted()
  return new Client(options)
}
