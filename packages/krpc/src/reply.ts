// Replies: a JSON body, a result (JSON or binary, streamed with backpressure), the error bodies.
import type { ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { encodeError, encodeJson } from './codec.ts'
import { RpcCode } from './constants.ts'
import { KrpcUnserializableError } from './errors.ts'
import type { KrpcContext } from './types.ts'

/** What a reply needs from its server. */
export interface ReplyHost {
  /** The server is closing: replies ask the client to close the connection. */
  readonly closing: boolean
  readonly exposeErrors: boolean
  handlerError(err: unknown, ctx: KrpcContext): void
}

type Binary = Uint8Array | ArrayBuffer | Blob | Readable | ReadableStream<Uint8Array>

/** Whether a result goes out as raw bytes. */
export function isBinary(value: unknown): value is Binary {
  return value instanceof Uint8Array || value instanceof ArrayBuffer || value instanceof Blob
    || value instanceof Readable || value instanceof ReadableStream
}

/** The `info` of -32001: the stack, when errors are exposed. */
export function stackOf(host: { readonly exposeErrors: boolean }, err: unknown): string | undefined {
  return host.exposeErrors && err instanceof Error ? err.stack : undefined
}

/** The response to one request. Nothing is written once headers are out or the response is gone. */
export class Reply {
  readonly #res: ServerResponse
  readonly #host: ReplyHost
  /** Ends a wait for 'drain' that a queued response would never end itself. */
  #wake: (() => void) | undefined

  constructor(res: ServerResponse, host: ReplyHost) {
    this.#res = res
    this.#host = host
  }

  /** A JSON body; `close` asks the client to close the connection. */
  json(status: number, body: string, close = false): void {
    const res = this.#res
    if (res.headersSent || res.destroyed) return
    // A flat list: node:http writes it as it is, with no header object to build. JSON text from
    // encodeJson is ASCII, so its length is its byte count.
    res.writeHead(status, close || this.#host.closing
      ? ['Content-Type', 'application/json', 'Content-Length', String(body.length), 'Connection', 'close']
      : ['Content-Type', 'application/json', 'Content-Length', String(body.length)])
    res.end(body)
  }

  /** The error reply of `rpcCode` with `info`. */
  error(rpcCode: RpcCode, info?: unknown, status = 200): void {
    this.json(status, encodeError(rpcCode, info))
  }

  /** A method's result: binary bytes raw, anything else as `{"result": ...}`, or -32003. */
  result(value: unknown, ctx: KrpcContext): void {
    if (isBinary(value)) {
      void this.#binary(value, ctx)
      return
    }
    let text: string
    try {
      text = encodeJson(value)
    } catch (err) {
      if (err instanceof KrpcUnserializableError) {
        this.error(RpcCode.NOT_SERIALIZABLE, err.message)
      } else {
        this.error(RpcCode.UNHANDLED_EXCEPTION, stackOf(this.#host, err))
        this.#host.handlerError(err, ctx)
      }
      return
    }
    this.json(200, `{"result": ${text}}`)
  }

  /** The connection closed: a wait for room in it ends. */
  wake(): void {
    this.#wake?.()
  }

  #head(length: number | undefined): void {
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' }
    if (length !== undefined) headers['Content-Length'] = String(length)
    if (this.#host.closing) headers.Connection = 'close'
    this.#res.writeHead(200, headers)
  }

  /** Resolves when the reply may take more, or can take nothing more. */
  #drained(): Promise<void> {
    const res = this.#res
    return new Promise((resolve) => {
      const done = (): void => {
        res.off('drain', done)
        res.off('close', done)
        this.#wake = undefined
        resolve()
      }
      res.once('drain', done)
      res.once('close', done)
      this.#wake = done
    })
  }

  async #binary(value: Binary, ctx: KrpcContext): Promise<void> {
    const res = this.#res
    if (res.headersSent || res.destroyed) return
    if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
      const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : value
      this.#head(bytes.byteLength)
      res.end(bytes)
      return
    }
    let started = false
    let source: AsyncIterable<Uint8Array>
    if (value instanceof Blob) {
      this.#head(value.size)
      started = true
      source = value.stream()
    } else source = value
    try {
      for await (const chunk of source) {
        if (res.destroyed) break
        if (!started) {
          // Headers wait for the first chunk, so a stream that fails at once still gets -32001.
          this.#head(undefined)
          started = true
        }
        if (!res.write(chunk)) await this.#drained()
      }
      if (res.destroyed) return
      if (!started) this.#head(undefined)
      res.end()
    } catch (err) {
      if (!started && !res.headersSent) {
        this.error(RpcCode.UNHANDLED_EXCEPTION, stackOf(this.#host, err))
        this.#host.handlerError(err, ctx)
      } else {
        // Once bytes are out there is no way to report an error: the connection is cut so the
        // client sees an incomplete reply rather than a short one.
        res.destroy()
      }
    }
  }
}
