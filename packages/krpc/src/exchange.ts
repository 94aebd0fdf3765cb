// The lifecycle of one request: from its head to the removal of its temp files, and how it fails.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { TextDecoder } from 'node:util'
import type { FileInfo } from 'busboy'
import { Binding } from './binding.ts'
import type { BindingHost } from './binding.ts'
import { RequestBody } from './body.ts'
import type { BodySink } from './body.ts'
import { encodeError } from './codec.ts'
import { RpcCode } from './constants.ts'
import { channels } from './diagnostics.ts'
import type { KrpcRequestInfo } from './diagnostics.ts'
import {
  KrpcBadRequestError,
  KrpcClosedError,
  KrpcFileTooLargeError,
  KrpcTruncatedError,
} from './errors.ts'
import type { KrpcError, KrpcRequestError } from './errors.ts'
import { FormReader } from './form.ts'
import { firstHeader, mediaType, transferCodings } from './headers.ts'
import { beginCall } from './invoke.ts'
import type { CallSite } from './invoke.ts'
import { Reply } from './reply.ts'
import type { ReplyHost } from './reply.ts'
import type { ExchangeHost, KrpcConnection, KrpcContext } from './types.ts'

/**
 * One request, from its head to the removal of its temp files: the verb and content type are
 * checked, the body is read (or the query, for GET), the call runs, and the reply goes out. Any
 * limit, timeout or broken body ends it typed: reading stops, the call's signal aborts, its files
 * error, the reply says why and the connection closes once it is out.
 */
export class Exchange implements CallSite, BodySink, BindingHost, ReplyHost {
  readonly host: ExchangeHost
  readonly reply: Reply
  readonly binding: Binding
  readonly connection: KrpcConnection
  readonly request: IncomingMessage
  /** Called once the reply is out, the body is consumed or dropped, and temp files are gone. */
  readonly #onDone: (exchange: Exchange) => void
  #finished = false
  readonly #res: ServerResponse
  #body: RequestBody | undefined
  #getEnded = false
  /** Made when a method first asks for `ctx.signal`: most calls never do. */
  #abort: AbortController | undefined
  #aborted = false
  #abortReason: unknown
  #failure: KrpcRequestError | undefined
  #inputDone = false
  #replyDone = false
  /** What diagnostics subscribers were told of at the start; `undefined` when there were none. */
  #info: KrpcRequestInfo | undefined
  /** Why the request did not end well, for `request:error`: its failure, a handler's error, a peer gone early. */
  #error: unknown

  constructor(host: ExchangeHost, connection: KrpcConnection, req: IncomingMessage, res: ServerResponse,
    onDone: (exchange: Exchange) => void) {
    this.host = host
    this.connection = connection
    this.request = req
    this.#res = res
    this.#onDone = onDone
    this.reply = new Reply(res, this)
    this.binding = new Binding(this)
    if (channels.requestStart.hasSubscribers) {
      this.#info = { verb: req.method ?? '', method: '' }
      channels.requestStart.publish({ side: 'server', remote: connection.remote, connection, request: this.#info })
    }
    // 'close' and 'end' come once, so plain listeners do, without once()'s wrapper per request.
    req.on('error', noop)
    req.on('close', this.#onRequestClose)
    res.on('close', this.#onResponseClose)
    this.#start()
  }

  get failed(): boolean {
    return this.#failure !== undefined
  }

  get bodyEnded(): boolean {
    return this.#getEnded || this.#body?.ended === true
  }

  get closing(): boolean {
    return this.host.closing
  }

  get exposeErrors(): boolean {
    return this.host.exposeErrors
  }

  get tmpDir(): string {
    return this.host.tmpDir
  }

  get fileSize(): number {
    return this.host.limits.fileSize
  }

  get socket(): Socket {
    return this.request.socket
  }

  #start(): void {
    const req = this.request
    // node:http decodes chunked and leaves any other coding in place: gzip bytes would be read
    // as a form.
    const codings = transferCodings(req.rawHeaders)
    if (codings.length > 0 && (codings.length > 1 || codings[0] !== 'chunked')) {
      this.fail(new KrpcBadRequestError('Unsupported Transfer-Encoding.', 501))
      return
    }
    if (req.method === 'GET') {
      this.#getEnded = true
      req.once('end', () => this.#setInputDone())
      req.resume()
      const url = req.url ?? '/'
      const query = url.indexOf('?')
      const search = new URLSearchParams(query === -1 ? '' : url.slice(query + 1))
      const text = search.get('json') ?? search.get('JSON')
      if (text === null) this.fail(new KrpcBadRequestError("Missing 'json' parameter.", 400))
      else beginCall(this, text, false)
      return
    }
    if (req.method !== 'POST') {
      this.fail(new KrpcBadRequestError(`Unsupported method ('${req.method ?? ''}').`, 501))
      return
    }
    const contentType = firstHeader(req.rawHeaders, 'content-type')
    const type = mediaType(contentType)
    const multipart = type === 'multipart/form-data'
    if (!multipart && type !== 'application/x-www-form-urlencoded') {
      this.fail(new KrpcBadRequestError('Unsupported Content-Type.', 415))
      return
    }
    let form: FormReader | undefined
    if (!multipart) {
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1]?.toLowerCase()
      let decoder: TextDecoder | undefined
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        try {
          decoder = new TextDecoder(charset)
        } catch {
          this.fail(new KrpcBadRequestError('Unsupported Content-Type.', 415))
          return
        }
      }
      form = new FormReader(this.host.limits, this, decoder)
    }
    this.#body = new RequestBody(req, this.host.limits, this, form)
  }

  // ---- what the body reports ----

  call(text: string): void {
    beginCall(this, text, true)
  }

  file(name: string, stream: Readable, info: FileInfo): void {
    this.binding.offer(name, stream, info)
  }

  end(): void {
    this.binding.bodyEnded()
    this.#setInputDone()
  }

  // ---- what the files report ----

  partProblem(name: string, err: Error | undefined): void {
    const req = this.request
    if (err === undefined) this.fail(new KrpcFileTooLargeError(name, this.host.limits.fileSize))
    else if (!req.complete && req.destroyed) this.fail(new KrpcTruncatedError({ cause: err }))
    else this.fail(new KrpcBadRequestError('Malformed request body.', 400, RpcCode.INVALID_REQUEST, { cause: err }))
  }

  spoolOverflow(name: string): void {
    this.fail(new KrpcFileTooLargeError(name, this.host.limits.fileSize))
  }

  // ---- the call ----

  settle(): void {
    this.binding.settle()
  }

  called(method: string): void {
    if (this.#info !== undefined) this.#info.method = method
  }

  handlerError(err: unknown, ctx: KrpcContext): void {
    this.#error ??= err
    this.host.handlerError(err, ctx)
  }

  /** The call's signal, made when first asked for. */
  signal(): AbortSignal {
    this.#abort ??= new AbortController()
    if (this.#aborted && !this.#abort.signal.aborted) this.#abort.abort(this.#abortReason)
    return this.#abort.signal
  }

  #abortWith(reason: unknown): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#abortReason = reason
    this.#abort?.abort(reason)
  }

  // ---- failure and the end ----

  /** A limit, timeout or broken body: stop reading, error every stream, reply, close. */
  fail(err: KrpcRequestError): void {
    if (this.#failure !== undefined) return
    this.#failure = err
    this.#error ??= err
    this.settle()
    const req = this.request
    this.#body?.stop()
    req.pause()
    this.#setInputDone()
    this.#abortWith(err)
    this.binding.fail(err)
    void this.binding.cleanup()
    this.host.clientError(err, this.connection)
    const res = this.#res
    if (err instanceof KrpcTruncatedError || res.headersSent || res.destroyed) {
      req.socket.destroy()
      return
    }
    this.reply.json(err.status, encodeError(err.rpcCode as RpcCode, err.info), true)
    // The rest of the body is never read: once the reply is flushed the connection goes.
    res.once('finish', () => req.socket.destroy())
  }

  #onRequestClose = (): void => {
    if (!this.request.complete) this.fail(new KrpcTruncatedError())
    this.#setInputDone()
  }

  #onResponseClose = (): void => {
    if (this.#replyDone) return
    if (!this.#res.writableFinished) {
      if (!this.request.complete) this.fail(new KrpcTruncatedError())
      else {
        const gone = new KrpcClosedError('the peer went away before the reply was complete')
        this.#error ??= gone
        this.#abortWith(gone)
      }
    }
    this.#replyDone = true
    void this.binding.cleanup()
    this.#check()
  }

  #setInputDone(): void {
    this.#inputDone = true
    this.#check()
  }

  #check(): void {
    if (!this.#inputDone || !this.#replyDone || this.#finished) return
    this.#finished = true
    const info = this.#info
    if (info !== undefined) {
      const message = { side: 'server' as const, remote: this.connection.remote, connection: this.connection, request: info }
      if (this.#error === undefined) channels.requestEnd.publish(message)
      else channels.requestError.publish({ ...message, error: this.#error })
    }
    const cleaning = this.binding.cleanup()
    if (cleaning === undefined) this.#onDone(this)
    else void cleaning.then(() => this.#onDone(this))
  }

  /**
   * The connection closed. Node tells a request and a response only while they are its current
   * ones: a request whose reply is out has been detached and never learns that the rest of its
   * body is gone, and a response queued behind another (pipelining) never emits 'close' or
   * 'finish' at all. Either way nothing more can be read or sent.
   */
  socketClosed(): void {
    this.#onRequestClose()
    // Marks a queued response destroyed, so nothing more is written into it.
    if (!this.#res.writableFinished) this.#res.destroy()
    this.#onResponseClose()
    this.reply.wake()
  }

  /** Ends the exchange now (server closing under a signal). */
  destroy(reason: KrpcError): void {
    this.#abortWith(reason)
    this.request.socket.destroy()
  }
}

function noop(): void {}
