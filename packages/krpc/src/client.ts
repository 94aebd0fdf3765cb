import { randomBytes } from 'node:crypto'
import { createReadStream, ReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import type { ClientRequest, IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import { basename } from 'node:path'
import { Readable } from 'node:stream'
import { checkLimit, UsageError } from '@proto/framing'
import type { CallOptions } from '@proto/framing'
import { armCall, BINARY_RESULT, checkVia, clientUrl, createProxy, interpretJson, isBinaryResult, isJsonType, mediaType, prepareCall, unexpectedReply } from './call.ts'
import type { ArmedCall, BinaryResult, KrpcProxy, PreparedCall } from './call.ts'
import { DEFAULT_MAX_RESULT_BYTES, DEFAULT_TIMEOUT } from './constants.ts'
import { KrpcClosedError, KrpcConnectError, KrpcFileSizeMismatchError, KrpcResultTooLargeError } from './errors.ts'

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
const READ_CHUNK = 262_144

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

function escapeFilename(name: string): string {
  return name.replace(/["\r\n]/g, (c) => (c === '"' ? '%22' : c === '\r' ? '%0D' : '%0A'))
}

function partHead(boundary: string, file: Outgoing): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${escapeFilename(file.filename)}"`
    + `\r\nContent-Type: ${file.mimeType}\r\n\r\n`
}

function waitDrain(req: ClientRequest, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      req.off('drain', done)
      req.off('close', done)
      stop.removeEventListener('abort', done)
      resolve()
    }
    req.once('drain', done)
    req.once('close', done)
    stop.addEventListener('abort', done, { once: true })
  })
}

/** Streams the multipart body of section 1.3; returns early when `stop` aborts (an early reply). */
async function writeMultipart(req: ClientRequest, boundary: string, text: string, files: readonly Outgoing[],
  stop: AbortSignal): Promise<void> {
  req.write(`--${boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n${text}\r\n`)
  for (const file of files) {
    if (stop.aborted || req.destroyed) return
    req.write(partHead(boundary, file))
    const body = file.body
    if (body instanceof Uint8Array) {
      if (!req.write(body)) await waitDrain(req, stop)
    } else {
      let sent = 0
      for await (const piece of body()) {
        if (stop.aborted || req.destroyed) return
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece
        sent += chunk.byteLength
        if (file.size !== undefined && sent > file.size) throw new KrpcFileSizeMismatchError(file.field, file.size, sent)
        if (!req.write(chunk)) await waitDrain(req, stop)
      }
      if (stop.aborted || req.destroyed) return
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
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    res.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        res.destroy()
        reject(new KrpcResultTooLargeError(size, limit))
        return
      }
      chunks.push(chunk)
    })
    res.once('end', () => resolve(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, size)))
    res.once('close', () => {
      if (!res.complete) reject(new KrpcClosedError('the reply ended early'))
    })
    res.resume()
  })
}

interface Prepared {
  readonly call: PreparedCall<KrpcFileInput>
  readonly via: 'post' | 'get'
}

class Client implements KrpcClient {
  readonly methods: KrpcProxy
  readonly closed: Promise<void>
  readonly #url: URL
  readonly #agent: HttpAgent
  readonly #request: typeof httpRequest
  readonly #https: boolean
  readonly #headers: Record<string, string>
  readonly #timeout: number
  readonly #maxResultBytes: number
  readonly #via: 'post' | 'get'
  readonly #pmhparams: unknown
  readonly #pending = new Set<Promise<unknown>>()
  readonly #binaries = new Set<NodeBinaryResult>()
  #closing: Promise<void> | undefined
  #resolveClosed: () => void = () => {}

  constructor(options: KrpcClientOptions) {
    this.#url = clientUrl(options)
    this.#https = this.#url.protocol === 'https:'
    if (!this.#https && this.#url.protocol !== 'http:') throw new UsageError(`unsupported protocol ${this.#url.protocol}`)
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

  async call(method: string, params?: unknown, opts: KrpcCallOptions = {}): Promise<unknown> {
    if (this.#closing !== undefined) throw new KrpcClosedError('the client is closed')
    const via = checkVia(opts.via ?? this.#via)
    const call = prepareCall(method, params, opts.pmhparams ?? this.#pmhparams, opts.files, isFileInput)
    if (via === 'get' && call.files.length > 0) throw new UsageError("files cannot be sent with via: 'get'")
    const timeout = checkLimit('timeout', opts.timeout, this.#timeout)
    const prepared: Prepared = { call, via }
    const task = this.#send(prepared, opts.signal ?? undefined, timeout)
    this.#pending.add(task)
    const forget = (): void => {
      this.#pending.delete(task)
    }
    task.then(forget, forget)
    return task
  }

  async #send(prepared: Prepared, userSignal: AbortSignal | undefined, timeout: number): Promise<unknown> {
    const armed = armCall(userSignal, timeout)
    let handedOver = false
    try {
      armed.signal.throwIfAborted()
      const files = await Promise.all(prepared.call.files.map(({ field, input }) => outgoing(field, input)))
      armed.signal.throwIfAborted()
      const result = await this.#roundTrip(prepared, files, armed, userSignal)
      handedOver = isBinaryResult(result)
      return result
    } finally {
      // A binary result keeps the caller's signal until its body is done; the timer stops here.
      if (handedOver) armed.stopTimer()
      else armed.dispose()
    }
  }

  #roundTrip(prepared: Prepared, files: readonly Outgoing[], armed: ArmedCall, userSignal: AbortSignal | undefined): Promise<unknown> {
    const { call, via } = prepared
    const url = this.#url
    const headers: Record<string, string> = { ...this.#headers }
    let path = `${url.pathname}${url.search}`
    let body: string | undefined
    let boundary: string | undefined
    if (via === 'get') {
      path += `${url.search === '' ? '?' : '&'}${new URLSearchParams({ json: call.text }).toString()}`
    } else if (files.length === 0) {
      body = new URLSearchParams({ json: call.text }).toString()
      headers['Content-Type'] = 'application/x-www-form-urlencoded'
      headers['Content-Length'] = String(body.length)
    } else {
      boundary = `krpc-${randomBytes(16).toString('hex')}`
      headers['Content-Type'] = `multipart/form-data; boundary=${boundary}`
      const length = contentLength(boundary, call.text, files)
      if (length !== undefined) headers['Content-Length'] = String(length)
    }
    const signal = armed.signal
    return new Promise<unknown>((resolve, reject) => {
      const req = this.#request(url, { method: via === 'get' ? 'GET' : 'POST', path, headers, agent: this.#agent })
      const upload = new AbortController()
      let connected = false
      let settled = false
      const settle = (): boolean => {
        if (settled) return false
        settled = true
        signal.removeEventListener('abort', onAbort)
        return true
      }
      const fail = (err: Error): void => {
        if (!settle()) return
        upload.abort()
        req.destroy()
        reject(err)
      }
      const onAbort = (): void => fail(signal.reason as Error)
      signal.addEventListener('abort', onAbort, { once: true })
      req.once('socket', (socket: Socket) => {
        if (!socket.connecting) connected = true
        else socket.once(this.#https ? 'secureConnect' : 'connect', () => { connected = true })
      })
      req.on('error', (err) => {
        fail(connected
          ? new KrpcClosedError('the connection ended before a complete reply', { cause: err })
          : new KrpcConnectError(`cannot connect to ${url.host}`, { cause: err }))
      })
      req.once('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0
        const type = mediaType(res.headers['content-type'])
        if (type === 'application/octet-stream' && status >= 200 && status < 300) {
          // A binary reply may be the upload streamed back (an echo), so the upload goes on.
          if (!settle()) return
          const binary = new NodeBinaryResult(res, this.#maxResultBytes)
          this.#binaries.add(binary)
          const onUserAbort = (): void => {
            res.destroy(userSignal?.reason instanceof Error ? userSignal.reason : undefined)
            req.destroy()
          }
          userSignal?.addEventListener('abort', onUserAbort, { once: true })
          void binary.finished.then(() => {
            userSignal?.removeEventListener('abort', onUserAbort)
            this.#binaries.delete(binary)
          })
          resolve(binary)
          return
        }
        // Any other reply is final, so an upload still going (a limit, an unknown method) stops;
        // a request cut short leaves its connection unusable, so it goes once the reply is read.
        const cutShort = !req.writableEnded
        upload.abort()
        const finish = (): void => {
          if (cutShort) req.destroy()
        }
        if (!isJsonType(type)) {
          res.resume()
          res.once('end', finish)
          fail(unexpectedReply(status, res.statusMessage ?? '', `Content-Type ${type === '' ? 'missing' : type}`))
          return
        }
        const declared = Number(res.headers['content-length'])
        if (Number.isSafeInteger(declared) && declared > this.#maxResultBytes) {
          fail(new KrpcResultTooLargeError(declared, this.#maxResultBytes))
          return
        }
        readBody(res, this.#maxResultBytes).then((bytes) => {
          finish()
          return interpretJson(status, res.statusMessage ?? '', bytes.toString('utf8'))
        }).then((value) => {
          if (settle()) resolve(value)
        }, fail)
      })
      if (body !== undefined) req.end(body)
      else if (boundary === undefined) req.end()
      else writeMultipart(req, boundary, call.text, files, upload.signal).catch(fail)
    })
  }

  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    await Promise.allSettled([...this.#pending])
    // A binary body being read is waited for; one nobody started would wait forever.
    await Promise.all([...this.#binaries].map((binary) => (binary.taken ? binary.finished : binary.cancel())))
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
