import { once } from 'node:events'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { loadVectors } from '@proto/framing/testing'
import { expect } from 'vitest'
import { createServer } from '../src/server.ts'
import type { KrpcServer, KrpcServerOptions } from '../src/server.ts'
import type { KrpcFile } from '../src/types.ts'

export const vectors = loadVectors('krpc')

/** The modules of the browser build of `./client`, file names in `dist`, sorted. */
export const BROWSER_MODULES = [
  'binary-result.js', 'browser-file.js', 'call-deadline.js', 'client-calls.js', 'client-options.js', 'client.browser.js', 'codec.js', 'constants.js',
  'errors.js', 'fetch-result.js', 'headers.js', 'prepare.js', 'proxy.js', 'response.js',
]

/** The bytes of a vector. */
export function wire(name: string): Buffer {
  return vectors.find((v) => v.name === name)?.bytes ?? expect.unreachable(`no vector ${name}`)
}

/** What follows the head of an HTTP message in a vector. */
export function wireBody(name: string): Buffer {
  const bytes = wire(name)
  const end = bytes.indexOf('\r\n\r\n')
  if (end === -1) expect.unreachable(`vector ${name} has no head`)
  return bytes.subarray(end + 4)
}

/** The call text a vector's request carries (urlencoded body, query, or the multipart json part). */
export function wireCallText(name: string): string {
  const bytes = wire(name).toString('latin1')
  const line = bytes.slice(0, bytes.indexOf('\r\n'))
  if (line.startsWith('GET ')) {
    const target = line.split(' ')[1] ?? ''
    return new URLSearchParams(target.slice(target.indexOf('?') + 1)).get('json') ?? expect.unreachable(name)
  }
  const body = wireBody(name).toString('utf8')
  if (body.startsWith('--')) {
    const start = body.indexOf('\r\n\r\n') + 4
    return body.slice(start, body.indexOf('\r\n--', start))
  }
  const form = new URLSearchParams(body)
  return form.get('json') ?? form.get('JSON') ?? expect.unreachable(name)
}

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: Buffer
  /** Whether the server closed the connection after this response. */
  closed: boolean
}

/** Reads one HTTP response from a socket: Content-Length, chunked, or up to the close. */
export async function readResponse(socket: Readable): Promise<RawResponse> {
  const source = new ResponseBytes(socket)
  let rest: Buffer | undefined
  try {
    const parsed = await parseResponse(source)
    rest = parsed.rest
    return parsed.response
  } finally {
    source.release(rest)
  }
}

/**
 * A socket's bytes as they come, by 'data' events: an async iterator drops what the socket has
 * buffered once it errors. A server that closes with bytes of ours still unread (it refused the
 * body part-way) makes the kernel reset the connection, which, after its reply, is its close.
 */
class ResponseBytes {
  buffered = Buffer.alloc(0)
  ended = false
  readonly #socket: Readable
  #failure: Error | undefined
  #wake: (() => void) | undefined
  readonly #onData = (chunk: Buffer): void => {
    this.buffered = Buffer.concat([this.buffered, chunk])
    this.#wake?.()
  }
  readonly #onEnd = (): void => {
    this.ended = true
    this.#wake?.()
  }
  readonly #onError = (err: Error & { code?: unknown }): void => {
    if (err.code !== 'ECONNRESET') this.#failure = err
    this.#onEnd()
  }

  constructor(socket: Readable) {
    this.#socket = socket
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('close', this.#onEnd)
    socket.on('error', this.#onError)
    // A socket an earlier reader paused stays paused under a new 'data' listener.
    socket.resume()
  }

  /** Waits for more bytes; false once the socket has ended and none came. */
  async more(): Promise<boolean> {
    const had = this.buffered.length
    while (this.buffered.length === had && !this.ended) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
      this.#wake = undefined
    }
    if (this.buffered.length > had) return true
    if (this.#failure !== undefined) throw this.#failure
    return false
  }

  /** Stops listening, and leaves the bytes past the response to the socket's next reader. */
  release(rest: Buffer = Buffer.alloc(0)): void {
    const socket = this.#socket
    socket.off('data', this.#onData)
    socket.off('end', this.#onEnd)
    socket.off('close', this.#onEnd)
    socket.off('error', this.#onError)
    socket.pause()
    if (rest.length > 0 && !socket.destroyed && !socket.readableEnded) socket.unshift(rest)
  }
}

async function parseResponse(source: ResponseBytes): Promise<{ response: RawResponse; rest: Buffer }> {
  // Bytes of the response taken so far; source.buffered grows under it.
  let taken = 0
  const pending = (): Buffer => source.buffered.subarray(taken)
  const more = (): Promise<boolean> => source.more()
  let headEnd: number
  while ((headEnd = pending().indexOf('\r\n\r\n')) === -1) {
    if (!(await more())) throw new Error(`connection ended before a response head: ${JSON.stringify(pending().toString('latin1'))}`)
  }
  const [statusLine = '', ...lines] = pending().subarray(0, headEnd).toString('latin1').split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  const status = Number(statusLine.split(' ')[1])
  taken += headEnd + 4
  let body: Buffer
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length'])
    while (pending().length < length) if (!(await more())) break
    body = pending().subarray(0, length)
    taken += body.length
  } else if (headers['transfer-encoding'] === 'chunked') {
    const pieces: Buffer[] = []
    for (;;) {
      let lineEnd: number
      while ((lineEnd = pending().indexOf('\r\n')) === -1) if (!(await more())) throw new Error('chunked body cut short')
      const size = parseInt(pending().subarray(0, lineEnd).toString('latin1'), 16)
      while (pending().length < lineEnd + 2 + size + 2) if (!(await more())) throw new Error('chunked body cut short')
      pieces.push(pending().subarray(lineEnd + 2, lineEnd + 2 + size))
      taken += lineEnd + 2 + size + 2
      if (size === 0) break
    }
    body = Buffer.concat(pieces)
  } else {
    while (await more());
    body = pending()
    taken += body.length
  }
  if (headers.connection === 'close' && !source.ended) {
    while (await more());
  }
  const response = { status, headers, body, closed: source.ended || headers.connection === 'close' }
  return { response, rest: pending() }
}

/** Sends raw bytes (or pieces, one write each) and reads one response. */
export async function sendRaw(port: number, data: Uint8Array | readonly Uint8Array[]): Promise<RawResponse> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
  await once(socket, 'connect')
  try {
    for (const piece of data instanceof Uint8Array ? [data] : data) {
      if (!socket.write(piece)) await once(socket, 'drain')
    }
    return await readResponse(socket)
  } finally {
    socket.destroy()
  }
}

/** Reads a file argument whole. */
export async function readAll(file: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of file as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks)
}

class PlainObject {}

/** The methods the vectors call, as section 6 of the spec describes them. */
export function vectorMethods(): NonNullable<KrpcServerOptions['handlers']> {
  return {
    echo: (x: unknown) => x,
    concat: (...parts: unknown[]) => parts.join('|'),
    add: (a: number, b: number) => a + b,
    kw: (named: { x: unknown; y: unknown }) => ({ x: named.x, y: named.y }),
    async upload_info(label: unknown, f: KrpcFile) {
      if (!(f instanceof Readable)) throw new TypeError(`${typeof f} is not a file`)
      const data = await readAll(f)
      return { label, type: 'BytesIO', len: data.length, content: data.toString('latin1') }
    },
    return_file: (f: KrpcFile) => f,
    return_bytes_io: () => Buffer.from('\x00\x01binary\xff', 'latin1'),
    return_none: () => undefined,
    return_zero: () => 0,
    return_object: () => new PlainObject(),
    raise_ioerror: () => {
      throw Object.assign(new Error('Ooops!'), { expose: true })
    },
    raise_managed: () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the original's managed errors are any object
      throw { managed: true, code: 42, message: 'Answer', info: 'more' }
    },
    sub: { hello: (name: string) => `hello ${name}` },
  }
}

/** The hook twin's hook: like the original's `hook(counter=None)`, it takes only `counter`. */
export function counterHook(pmhparams: unknown): void {
  if (pmhparams === null || pmhparams === undefined) return
  for (const key of Object.keys(pmhparams)) {
    if (key !== 'counter') throw Object.assign(new TypeError(`hook() got an unexpected keyword argument '${key}'`), { expose: true })
  }
}

export interface Running {
  server: KrpcServer
  port: number
  url: string
  close(): Promise<void>
}

/** A server on 127.0.0.1:0 with the vector methods unless told otherwise. */
export async function startServer(options: KrpcServerOptions = {}): Promise<Running> {
  const server = createServer({ handlers: vectorMethods(), ...options })
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  return { server, port, url: `http://127.0.0.1:${port}/`, close: () => server.close({ signal: AbortSignal.timeout(10_000) }) }
}

/** A fresh temp directory for spooling, and a check that it ends up empty. */
export async function spoolDir(): Promise<{ path: string; entries(): Promise<string[]>; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'krpc-test-'))
  return { path, entries: () => readdir(path), remove: () => rm(path, { recursive: true, force: true }) }
}

/** A multipart body from parts, in the layout of section 1.3. */
export function multipart(boundary: string, parts: readonly { name: string; filename?: string; type?: string; data: string | Uint8Array }[]): Buffer {
  const pieces: Buffer[] = []
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`
    if (part.filename !== undefined) head += `; filename="${part.filename}"`
    head += '\r\n'
    if (part.type !== undefined) head += `Content-Type: ${part.type}\r\n`
    pieces.push(Buffer.from(`${head}\r\n`), Buffer.from(part.data), Buffer.from('\r\n'))
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`))
  return Buffer.concat(pieces)
}

/** A raw HTTP/1.1 POST with the given body and content type. */
export function post(body: Uint8Array | string, contentType: string, extra = ''): Buffer {
  const bytes = Buffer.from(body)
  return Buffer.concat([
    Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nContent-Length: ${bytes.length}\r\n${extra}\r\n`),
    bytes,
  ])
}

/** A raw urlencoded POST of call text. */
export function postCall(text: string): Buffer {
  return post(new URLSearchParams({ json: text }).toString(), 'application/x-www-form-urlencoded')
}
