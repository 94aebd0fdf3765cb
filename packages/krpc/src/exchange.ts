import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import busboy from 'busboy'
import type { Busboy, FieldInfo, FileInfo } from 'busboy'
import { decodeCall, encodeError, encodeJson } from './codec.ts'
import type { DecodedCall } from './codec.ts'
import { FILE_PREFIX, RpcCode } from './constants.ts'
import { callStorage } from './context.ts'
import type { KrpcContext, PeerInfo } from './context.ts'
import {
  KrpcBadRequestError,
  KrpcBodyTimeoutError,
  KrpcClosedError,
  KrpcFieldTooLargeError,
  KrpcFileTooLargeError,
  KrpcTooManyPartsError,
  KrpcTruncatedError,
  KrpcUnserializableError,
} from './errors.ts'
import type { KrpcError, KrpcRequestError } from './errors.ts'
import { FILE_HIGH_WATER_MARK, FileArg, Spool } from './files.ts'
import { firstHeader } from './headers.ts'

/** A method as the server stores it: the function and the object it is called on. */
export interface MethodEntry {
  readonly fn: (...args: never[]) => unknown
  readonly holder: unknown
}

/** Every server limit, checked and with its default applied. */
export interface ResolvedLimits {
  readonly fieldSize: number
  readonly fieldNameSize: number
  readonly fileSize: number
  readonly files: number
  readonly fields: number
  readonly parts: number
  readonly bodyTimeout: number
  readonly headersTimeout: number
  readonly requestTimeout: number
  readonly maxHeaderSize: number
  readonly maxConnections: number
}

/** What an exchange needs from its server. */
export interface ExchangeHost {
  readonly methods: ReadonlyMap<string, MethodEntry>
  readonly preMethodHook: ((pmhparams: unknown, ctx: KrpcContext) => unknown) | undefined
  readonly limits: ResolvedLimits
  readonly exposeErrors: boolean
  readonly tmpDir: string
  readonly closing: boolean
  clientError(err: KrpcError, peer: PeerInfo): void
  handlerError(err: unknown, ctx: KrpcContext): void
}

/**
 * The context a method and the hook see. A class rather than an object literal with a `signal`
 * getter: V8 gives each such literal a hidden class of its own, allocated where the collector
 * only reaches it in a full collection, and through the getter's closure that hidden class kept
 * every request's objects alive until then, which made small calls spend a third of their time in
 * garbage collection.
 */
class CallContext implements KrpcContext {
  readonly method: string
  readonly pmhparams: unknown
  readonly peer: PeerInfo
  readonly request: IncomingMessage
  readonly #exchange: Exchange

  constructor(exchange: Exchange, method: string, pmhparams: unknown, peer: PeerInfo, request: IncomingMessage) {
    this.#exchange = exchange
    this.method = method
    this.pmhparams = pmhparams
    this.peer = peer
    this.request = request
  }

  get signal(): AbortSignal {
    return this.#exchange.signal()
  }
}

/** A referenced file part: filled in when the part arrives. */
class Slot {
  readonly name: string
  arg: FileArg | undefined
  spool: Spool | undefined

  constructor(name: string) {
    this.name = name
  }
}

/** The body ended with a reference that no file part answered. */
class MissingFile {
  readonly name: string

  constructor(name: string) {
    this.name = name
  }
}

type Template = { readonly kind: 'list'; readonly items: unknown[] } | { readonly kind: 'named'; readonly entries: [string, unknown][] }

const NO_ARGS: Template = { kind: 'list', items: [] }

function isBinary(value: unknown): value is Uint8Array | ArrayBuffer | Blob | Readable | ReadableStream<Uint8Array> {
  return value instanceof Uint8Array || value instanceof ArrayBuffer || value instanceof Blob
    || value instanceof Readable || value instanceof ReadableStream
}

function isManaged(value: unknown): value is { managed: true; code?: unknown; message?: unknown; info?: unknown } {
  return (typeof value === 'object' || typeof value === 'function') && value !== null
    && (value as { managed?: unknown }).managed === true
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`
  try {
    return String(value)
  } catch {
    return typeof value
  }
}

function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return ''
  const semi = contentType.indexOf(';')
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
}

function noop(): void {}

// One function for every call, so running a method allocates no closure.
function applyMethod(entry: MethodEntry, args: unknown[]): unknown {
  return entry.fn.apply(entry.holder, args as never[])
}

/** Urlencoded bodies up to this size are parsed whole, without busboy. */
const QUICK_FORM_BYTES = 65_536
const QUICK_FIELD: FieldInfo = { nameTruncated: false, valueTruncated: false, encoding: 'utf-8', mimeType: 'text/plain' }
// What busboy calls a malformed form: a `%` without two hex digits after it.
const MALFORMED_ESCAPE = /%(?![0-9A-Fa-f]{2})/

/**
 * One request, from its first byte to the removal of its temp files: the body goes to busboy,
 * the call is taken and checked, referenced file parts are spooled or handed over live, the
 * method runs, and the reply goes out. Any limit, timeout or broken body ends it typed.
 */
export class Exchange {
  readonly #host: ExchangeHost
  /** Called once the reply is out, the body is consumed or dropped, and temp files are gone. */
  readonly #onDone: (exchange: Exchange) => void
  #finished = false
  readonly #req: IncomingMessage
  readonly #res: ServerResponse
  readonly #peer: PeerInfo
  /** Made when a method first asks for `ctx.signal`: most calls never do. */
  #abort: AbortController | undefined
  #aborted = false
  #abortReason: unknown
  #failure: KrpcRequestError | undefined
  /** The call has its outcome: parts that arrive from now on are drained. */
  #settled = false
  #callSeen = false
  #bb: Busboy | undefined
  #timer: NodeJS.Timeout | undefined
  /** Body bytes received, and the `Content-Length` (Infinity for a chunked body). */
  #received = 0
  #declaredLength = Infinity
  #bodyEnded = false
  #inputDone = false
  #replyDone = false
  #cleaning: Promise<void> | undefined
  /** Ends a wait for 'drain' that a queued response would never end itself. */
  #wake: (() => void) | undefined
  #parts = 0
  #urlencodedBudget = Infinity
  /** A urlencoded body held for the quick parse, until it grows past QUICK_FORM_BYTES. */
  #form: Buffer[] | undefined
  #formBytes = 0
  #jsonField: string | undefined
  #upperJsonField: string | undefined
  // File bookkeeping, made only for calls that reference files: most calls have none.
  /** Every referenced part, in the order the params name them. */
  #slots: Map<string, Slot> | undefined
  /** Referenced parts that have not arrived; emptied when the call settles. */
  #wanted: Set<string> | undefined
  #multipart = false
  #args: FileArg[] | undefined
  #spools: Spool[] | undefined
  #ready: Promise<void> | undefined
  #readyResolve: () => void = noop
  #readyReject: (reason: unknown) => void = noop

  constructor(host: ExchangeHost, req: IncomingMessage, res: ServerResponse, onDone: (exchange: Exchange) => void) {
    this.#host = host
    this.#req = req
    this.#res = res
    this.#onDone = onDone
    this.#peer = { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 }
    // 'close' and 'end' come once, so plain listeners do, without once()'s wrapper per request.
    req.on('error', noop)
    req.on('close', this.#onRequestClose)
    res.on('close', this.#onResponseClose)
    this.#start()
  }

  #start(): void {
    const req = this.#req
    if (req.method === 'GET') {
      this.#bodyEnded = true
      req.once('end', () => this.#setInputDone())
      req.resume()
      const url = req.url ?? '/'
      const query = url.indexOf('?')
      const search = new URLSearchParams(query === -1 ? '' : url.slice(query + 1))
      const text = search.get('json') ?? search.get('JSON')
      if (text === null) this.#fail(new KrpcBadRequestError("Missing 'json' parameter.", 400))
      else this.#beginCall(text, false)
      return
    }
    if (req.method !== 'POST') {
      this.#fail(new KrpcBadRequestError(`Unsupported method ('${req.method ?? ''}').`, 501))
      return
    }
    const contentType = firstHeader(req.rawHeaders, 'content-type')
    const type = mediaType(contentType)
    const multipart = type === 'multipart/form-data'
    this.#multipart = multipart
    if (!multipart && type !== 'application/x-www-form-urlencoded') {
      this.#fail(new KrpcBadRequestError('Unsupported Content-Type.', 415))
      return
    }
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1]?.toLowerCase()
    if (!multipart && (charset === undefined || charset === 'utf-8' || charset === 'utf8')) {
      // A small form is read whole and parsed with URLSearchParams, which costs a fraction of
      // a busboy instance; one that grows past QUICK_FORM_BYTES goes to busboy after all.
      this.#form = []
    } else if (!this.#startBusboy(multipart)) return
    req.on('data', this.#onData)
    req.on('end', this.#onEnd)
    const declared = firstHeader(req.rawHeaders, 'content-length')
    this.#declaredLength = declared === undefined ? Infinity : Number(declared)
    // The clock starts only when the server waits for a byte: a body that came with the head is
    // parsed by the time of the immediate, and the first chunk of one that did not starts it if
    // more is due. Paused, the request waits for its method to read, and its clock with it.
    setImmediate(() => {
      if (this.#timer === undefined && !req.isPaused() && this.#moreBodyDue()) this.#armTimer()
    })
  }

  /** Hands the body to busboy; false when busboy refused the request. */
  #startBusboy(multipart: boolean): boolean {
    const limits = this.#host.limits
    let bb: Busboy
    try {
      // busboy marks a field or file that reaches its limit exactly as truncated, so it is given
      // one byte more and only a real excess fails; parts likewise, since busboy reports the
      // limit when the last allowed part ends. Multipart names are checked here: busboy applies
      // fieldNameSize to urlencoded names only.
      bb = busboy({
        headers: this.#req.headers,
        defParamCharset: 'utf8',
        highWaterMark: FILE_HIGH_WATER_MARK,
        fileHwm: FILE_HIGH_WATER_MARK,
        limits: multipart
          ? { fieldSize: limits.fieldSize + 1, fileSize: limits.fileSize + 1, files: limits.files,
              fields: limits.fields, parts: limits.parts + 1 }
          : { fieldSize: limits.fieldSize, fieldNameSize: limits.fieldNameSize, fields: limits.fields + 1 },
      })
    } catch (err) {
      this.#fail(new KrpcBadRequestError('Malformed request body.', 400, RpcCode.INVALID_REQUEST, { cause: err }))
      return false
    }
    this.#bb = bb
    if (multipart) {
      bb.on('field', this.#onMultipartField)
      bb.on('file', this.#onFile)
    } else {
      // busboy can undercount percent-escapes that end a chunk; a cap on the whole body keeps
      // memory bounded whatever the chunking, and no legitimate form comes near it.
      this.#urlencodedBudget = (limits.fields + 1) * (3 * (limits.fieldNameSize + limits.fieldSize) + 2)
      bb.on('field', this.#onUrlencodedField)
    }
    bb.on('filesLimit', () => this.#fail(new KrpcTooManyPartsError('files', limits.files)))
    bb.on('fieldsLimit', () => this.#fail(new KrpcTooManyPartsError('fields', limits.fields)))
    bb.on('partsLimit', () => this.#fail(new KrpcTooManyPartsError('parts', limits.parts)))
    bb.on('error', (err: unknown) => {
      this.#fail(new KrpcBadRequestError('Malformed request body.', 400, RpcCode.INVALID_REQUEST, { cause: err }))
    })
    bb.on('finish', this.#onBodyEnd)
    return true
  }

  /** A whole small form: the same checks busboy's path makes, field by field. */
  #quickForm(body: Buffer): void {
    const text = body.toString('utf8')
    if (MALFORMED_ESCAPE.test(text)) {
      this.#fail(new KrpcBadRequestError('Malformed request body.', 400))
      return
    }
    for (const [name, value] of new URLSearchParams(text)) {
      this.#onUrlencodedField(name, value, QUICK_FIELD)
      if (this.#failure !== undefined) return
    }
    this.#onBodyEnd()
  }

  // ---- reading the body ----

  #onData = (chunk: Buffer): void => {
    if (this.#failure !== undefined) return
    this.#received += chunk.length
    const form = this.#form
    if (form !== undefined) {
      this.#formBytes += chunk.length
      if (this.#formBytes <= QUICK_FORM_BYTES) {
        form.push(chunk)
        this.#bodyByte()
        return
      }
      this.#form = undefined
      if (!this.#startBusboy(false)) return
      this.#urlencodedBudget -= this.#formBytes - chunk.length
      for (const piece of form) this.#bb?.write(piece)
    }
    const bb = this.#bb
    if (bb === undefined) return
    this.#urlencodedBudget -= chunk.length
    if (this.#urlencodedBudget < 0) {
      this.#fail(new KrpcFieldTooLargeError('fieldSize', this.#host.limits.fieldSize))
      return
    }
    if (bb.write(chunk)) {
      this.#bodyByte()
    } else {
      // The method is not reading its file as fast as it arrives: the socket waits, and the
      // body clock with it.
      this.#req.pause()
      this.#clearTimer()
      bb.once('drain', this.#onDrain)
    }
  }

  #onDrain = (): void => {
    if (this.#failure !== undefined) return
    this.#armTimer()
    this.#req.resume()
  }

  #onEnd = (): void => {
    this.#clearTimer()
    const form = this.#form
    if (form === undefined) this.#bb?.end()
    else {
      this.#form = undefined
      this.#quickForm(form.length === 1 && form[0] !== undefined ? form[0] : Buffer.concat(form))
    }
  }

  /** A body byte came: the clock starts again if more are due. */
  #bodyByte(): void {
    if (this.#timer !== undefined) this.#timer.refresh()
    else if (this.#moreBodyDue()) this.#armTimer()
  }

  /** Whether the server waits for body bytes: the body has not ended nor reached its declared length. */
  #moreBodyDue(): boolean {
    return !this.#req.complete && !this.#bodyEnded && this.#failure === undefined && this.#received < this.#declaredLength
  }

  #armTimer(): void {
    const timeout = this.#host.limits.bodyTimeout
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#fail(new KrpcBodyTimeoutError(timeout)), timeout)
    } else this.#timer.refresh()
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #onRequestClose = (): void => {
    if (!this.#req.complete) this.#fail(new KrpcTruncatedError())
    this.#setInputDone()
  }

  #onResponseClose = (): void => {
    if (this.#replyDone) return
    if (!this.#res.writableFinished) {
      if (!this.#req.complete) this.#fail(new KrpcTruncatedError())
      else this.#abortWith(new KrpcClosedError('the peer went away before the reply was complete'))
    }
    this.#replyDone = true
    void this.#cleanup()
    this.#check()
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

  #setInputDone(): void {
    this.#inputDone = true
    this.#check()
  }

  #check(): void {
    if (!this.#inputDone || !this.#replyDone || this.#finished) return
    this.#finished = true
    const cleaning = this.#cleanup()
    if (cleaning === undefined) this.#onDone(this)
    else void cleaning.then(() => this.#onDone(this))
  }

  /** True when the part may go on; fails the exchange on a part past a limit. */
  #countPart(name: string): boolean {
    const limits = this.#host.limits
    if (++this.#parts > limits.parts) {
      this.#fail(new KrpcTooManyPartsError('parts', limits.parts))
      return false
    }
    if (Buffer.byteLength(name) > limits.fieldNameSize) {
      this.#fail(new KrpcFieldTooLargeError('fieldNameSize', limits.fieldNameSize))
      return false
    }
    return true
  }

  #onMultipartField = (name: string, value: string, info: FieldInfo): void => {
    if (this.#failure !== undefined || !this.#countPart(name)) return
    if (info.valueTruncated) {
      this.#fail(new KrpcFieldTooLargeError('fieldSize', this.#host.limits.fieldSize))
      return
    }
    if (!this.#callSeen && (name === 'json' || name === 'JSON')) {
      this.#callSeen = true
      this.#beginCall(value, true)
    }
  }

  #onUrlencodedField = (name: string, value: string, info: FieldInfo): void => {
    if (this.#failure !== undefined) return
    const limits = this.#host.limits
    if (++this.#parts > limits.fields) {
      this.#fail(new KrpcTooManyPartsError('fields', limits.fields))
      return
    }
    // busboy does not count a percent-escape that ends a chunk, so the sizes are checked again.
    if (info.nameTruncated || Buffer.byteLength(name) > limits.fieldNameSize) {
      this.#fail(new KrpcFieldTooLargeError('fieldNameSize', limits.fieldNameSize))
      return
    }
    if (info.valueTruncated || Buffer.byteLength(value) > limits.fieldSize) {
      this.#fail(new KrpcFieldTooLargeError('fieldSize', limits.fieldSize))
      return
    }
    if (name === 'json') this.#jsonField ??= value
    else if (name === 'JSON') this.#upperJsonField ??= value
  }

  #onFile = (name: string, stream: Readable, info: FileInfo): void => {
    const fileSize = this.#host.limits.fileSize
    stream.on('error', noop)
    stream.once('limit', () => this.#fail(new KrpcFileTooLargeError(name, fileSize)))
    if (this.#failure !== undefined || !this.#countPart(name)) {
      stream.resume()
      return
    }
    if (!this.#callSeen) {
      stream.resume()
      this.#fail(new KrpcBadRequestError("File part before the 'json' field.", 400))
      return
    }
    const slot = this.#slots?.get(name)
    if (slot === undefined || this.#wanted?.delete(name) !== true) {
      stream.resume()
      return
    }
    const filename = info.filename ?? ''
    const overflow = (): void => this.#fail(new KrpcFileTooLargeError(name, fileSize))
    if (this.#wanted?.size === 0) {
      const arg = new FileArg(name, filename, info.mimeType, fileSize, (err) => this.#onPartProblem(name, err))
      arg.attachLive(stream)
      slot.arg = arg
      ;(this.#args ??= []).push(arg)
      void this.#allArrived()
    } else {
      const spool = new Spool(join(this.#host.tmpDir, `krpc-${randomUUID()}`),
        { field: name, filename, mimeType: info.mimeType }, stream, fileSize, overflow)
      slot.spool = spool
      ;(this.#spools ??= []).push(spool)
    }
  }

  #onPartProblem(name: string, err: Error | undefined): void {
    if (err === undefined) this.#fail(new KrpcFileTooLargeError(name, this.#host.limits.fileSize))
    else if (!this.#req.complete && this.#req.destroyed) this.#fail(new KrpcTruncatedError({ cause: err }))
    else this.#fail(new KrpcBadRequestError('Malformed request body.', 400, RpcCode.INVALID_REQUEST, { cause: err }))
  }

  async #allArrived(): Promise<void> {
    try {
      await Promise.all((this.#spools ?? []).map((spool) => spool.done))
    } catch (err) {
      this.#readyReject(err)
      return
    }
    if (this.#settled) return
    for (const slot of this.#slots?.values() ?? []) {
      const spool = slot.spool
      if (spool === undefined || slot.arg !== undefined) continue
      const arg = new FileArg(spool.field, spool.filename, spool.mimeType, this.#host.limits.fileSize, noop)
      arg.attachSpooled(spool.path)
      slot.arg = arg
      ;(this.#args ??= []).push(arg)
    }
    this.#readyResolve()
  }

  #onBodyEnd = (): void => {
    this.#bodyEnded = true
    if (this.#failure === undefined && !this.#settled) {
      if (!this.#multipart) {
        const text = this.#jsonField ?? this.#upperJsonField
        if (text === undefined) this.#fail(new KrpcBadRequestError("Missing 'json' parameter.", 400))
        else {
          this.#callSeen = true
          this.#beginCall(text, true)
        }
      } else if (!this.#callSeen) {
        this.#fail(new KrpcBadRequestError("Missing 'json' parameter.", 400))
      } else if (this.#wanted !== undefined && this.#wanted.size > 0) {
        this.#readyReject(this.#firstMissing())
      }
    }
    this.#setInputDone()
  }

  #firstMissing(): MissingFile {
    for (const name of this.#wanted ?? []) return new MissingFile(name)
    return new MissingFile('')
  }

  // ---- the call ----

  #beginCall(text: string, allowFiles: boolean): void {
    let call: DecodedCall
    try {
      call = decodeCall(text)
    } catch (err) {
      const bad = err as KrpcBadRequestError
      this.#settle()
      this.#replyJson(200, encodeError(bad.rpcCode as RpcCode, bad.info))
      return
    }
    const template = this.#bind(call.params, allowFiles)
    if (this.#wanted !== undefined) {
      this.#ready = new Promise<void>((resolve, reject) => {
        this.#readyResolve = resolve
        this.#readyReject = reject
      })
      // Awaited only once the method is known; until then a rejection must not count as unhandled.
      this.#ready.catch(noop)
      if (this.#bodyEnded) this.#readyReject(this.#firstMissing())
    }
    void this.#invoke(call, template)
  }

  #bind(params: unknown, allowFiles: boolean): Template {
    if (Array.isArray(params)) return { kind: 'list', items: params.map((value) => this.#ref(value, allowFiles)) }
    if (typeof params === 'object' && params !== null) {
      const entries = Object.entries(params)
      if (entries.length === 0) return NO_ARGS
      return { kind: 'named', entries: entries.map(([key, value]) => [key, this.#ref(value, allowFiles)]) }
    }
    // The original calls with no arguments for every falsy params, and wraps any other scalar.
    if (!params) return NO_ARGS
    return { kind: 'list', items: [this.#ref(params, allowFiles)] }
  }

  #ref(value: unknown, allowFiles: boolean): unknown {
    if (!allowFiles || typeof value !== 'string' || !value.startsWith(FILE_PREFIX)) return value
    const slots = (this.#slots ??= new Map<string, Slot>())
    let slot = slots.get(value)
    if (slot === undefined) {
      slot = new Slot(value)
      slots.set(value, slot)
      ;(this.#wanted ??= new Set()).add(value)
    }
    return slot
  }

  #materialize(template: Template): unknown[] {
    const arg = (value: unknown): unknown => (value instanceof Slot ? value.arg : value)
    if (template.kind === 'list') return template.items.map(arg)
    return [Object.fromEntries(template.entries.map(([key, value]) => [key, arg(value)]))]
  }

  /**
   * Runs the call. A call with no hook and no file parts to wait for runs and is answered in
   * this turn, without a promise: that is nearly every small call.
   */
  #invoke(call: DecodedCall, template: Template): void {
    const method = call.method
    const ctx = new CallContext(this, typeof method === 'string' ? method : '', call.pmhparams, this.#peer, this.#req)
    if (method === '') {
      this.#settle()
      this.#replyJson(200, encodeError(RpcCode.INVALID_REQUEST, 'Method not specified.'))
      return
    }
    if (this.#host.preMethodHook !== undefined || this.#ready !== undefined) {
      void this.#invokeAfterWaits(method, template, ctx)
      return
    }
    const entry = this.#lookup(method)
    if (entry !== undefined) this.#run(entry, template, ctx)
  }

  /** The same steps as `#invoke` where the hook or file parts must be awaited first. */
  async #invokeAfterWaits(method: unknown, template: Template, ctx: CallContext): Promise<void> {
    const hook = this.#host.preMethodHook
    if (hook !== undefined) {
      try {
        await callStorage.run(ctx, hook, ctx.pmhparams, ctx)
      } catch (err) {
        this.#thrown(err, ctx)
        return
      }
      if (this.#failure !== undefined) return
    }
    const entry = this.#lookup(method)
    if (entry === undefined) return
    try {
      if (this.#ready !== undefined) await this.#ready
    } catch (err) {
      if (this.#failure !== undefined) return
      this.#settle()
      if (err instanceof MissingFile) {
        this.#replyJson(200, encodeError(RpcCode.MISSING_FILE, err.name))
      } else {
        this.#host.handlerError(err, ctx)
        this.#replyJson(200, encodeError(RpcCode.UNHANDLED_EXCEPTION, this.#stack(err)))
      }
      return
    }
    if (this.#failure !== undefined) return
    this.#run(entry, template, ctx)
  }

  /** The registered method; answers -32601 when there is none. */
  #lookup(method: unknown): MethodEntry | undefined {
    const entry = typeof method === 'string' ? this.#host.methods.get(method) : undefined
    if (entry === undefined) {
      this.#settle()
      this.#replyJson(200, encodeError(RpcCode.METHOD_NOT_FOUND))
    }
    return entry
  }

  #run(entry: MethodEntry, template: Template, ctx: CallContext): void {
    let result: unknown
    try {
      result = callStorage.run(ctx, applyMethod, entry, this.#materialize(template))
    } catch (err) {
      this.#thrown(err, ctx)
      return
    }
    // A method that returns at once is answered without waiting a turn.
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
      void this.#replyWhenSettled(result as PromiseLike<unknown>, ctx)
      return
    }
    if (this.#failure !== undefined) return
    this.#settle()
    this.#replyResult(result, ctx)
  }

  async #replyWhenSettled(pending: PromiseLike<unknown>, ctx: CallContext): Promise<void> {
    let result: unknown
    try {
      result = await pending
    } catch (err) {
      this.#thrown(err, ctx)
      return
    }
    if (this.#failure !== undefined) return
    this.#settle()
    this.#replyResult(result, ctx)
  }

  /** A throw from the hook or the method: a managed error is a result, anything else -32000. */
  #thrown(err: unknown, ctx: KrpcContext): void {
    if (this.#failure !== undefined) return
    this.#settle()
    if (isManaged(err)) {
      const error: Record<string, unknown> = { code: err.code ?? -1, message: err.message ?? '' }
      if ('info' in err) error.info = err.info
      this.#replyResult({ error }, ctx)
      return
    }
    const info = this.#host.exposeErrors && err instanceof Error && err.stack !== undefined ? err.stack : describe(err)
    this.#replyJson(200, encodeError(RpcCode.METHOD_EXCEPTION, info))
    this.#host.handlerError(err, ctx)
  }

  #stack(err: unknown): string | undefined {
    return this.#host.exposeErrors && err instanceof Error ? err.stack : undefined
  }

  /** The call has its outcome: stop waiting for parts, drop spools in progress. */
  #settle(): void {
    this.#settled = true
    this.#wanted?.clear()
  }

  // ---- replies ----

  #replyJson(status: number, body: string, close = false): void {
    const res = this.#res
    if (res.headersSent || res.destroyed) return
    // A flat list: node:http writes it as it is, with no header object to build. JSON text from
    // encodeJson is ASCII, so its length is its byte count.
    res.writeHead(status, close || this.#host.closing
      ? ['Content-Type', 'application/json', 'Content-Length', String(body.length), 'Connection', 'close']
      : ['Content-Type', 'application/json', 'Content-Length', String(body.length)])
    res.end(body)
  }

  #binaryHead(length: number | undefined): void {
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' }
    if (length !== undefined) headers['Content-Length'] = String(length)
    if (this.#host.closing) headers.Connection = 'close'
    this.#res.writeHead(200, headers)
  }

  #replyResult(value: unknown, ctx: KrpcContext): void {
    if (isBinary(value)) {
      void this.#replyBinary(value, ctx)
      return
    }
    let text: string
    try {
      text = encodeJson(value)
    } catch (err) {
      if (err instanceof KrpcUnserializableError) {
        this.#replyJson(200, encodeError(RpcCode.NOT_SERIALIZABLE, err.message))
      } else {
        this.#replyJson(200, encodeError(RpcCode.UNHANDLED_EXCEPTION, this.#stack(err)))
        this.#host.handlerError(err, ctx)
      }
      return
    }
    this.#replyJson(200, `{"result": ${text}}`)
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

  async #replyBinary(value: Uint8Array | ArrayBuffer | Blob | Readable | ReadableStream<Uint8Array>,
    ctx: KrpcContext): Promise<void> {
    const res = this.#res
    if (res.headersSent || res.destroyed) return
    if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
      const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : value
      this.#binaryHead(bytes.byteLength)
      res.end(bytes)
      return
    }
    let started = false
    let source: AsyncIterable<Uint8Array>
    if (value instanceof Blob) {
      this.#binaryHead(value.size)
      started = true
      source = value.stream()
    } else source = value
    try {
      for await (const chunk of source) {
        if (res.destroyed) break
        if (!started) {
          // Headers wait for the first chunk, so a stream that fails at once still gets -32001.
          this.#binaryHead(undefined)
          started = true
        }
        if (!res.write(chunk)) await this.#drained()
      }
      if (res.destroyed) return
      if (!started) this.#binaryHead(undefined)
      res.end()
    } catch (err) {
      if (!started && !res.headersSent) {
        this.#replyJson(200, encodeError(RpcCode.UNHANDLED_EXCEPTION, this.#stack(err)))
        this.#host.handlerError(err, ctx)
      } else {
        // Once bytes are out there is no way to report an error: the connection is cut so the
        // client sees an incomplete reply rather than a short one.
        res.destroy()
      }
    }
  }

  // ---- failure and cleanup ----

  /** A limit, timeout or broken body: stop reading, error every stream, reply, close. */
  #fail(err: KrpcRequestError): void {
    if (this.#failure !== undefined) return
    this.#failure = err
    this.#settle()
    this.#clearTimer()
    const req = this.#req
    req.off('data', this.#onData)
    req.off('end', this.#onEnd)
    req.pause()
    this.#setInputDone()
    this.#abortWith(err)
    for (const arg of this.#args ?? []) arg.destroy(err)
    this.#readyReject(err)
    void this.#cleanup()
    const bb = this.#bb
    if (bb !== undefined) {
      bb.removeAllListeners('file')
      bb.removeAllListeners('field')
      bb.on('error', noop)
      // Not at once: this may run inside one of busboy's own events, which then goes on.
      process.nextTick(() => bb.destroy())
    }
    this.#host.clientError(err, this.#peer)
    const res = this.#res
    if (err instanceof KrpcTruncatedError || res.headersSent || res.destroyed) {
      req.socket.destroy()
      return
    }
    this.#replyJson(err.status, encodeError(err.rpcCode as RpcCode, err.info), true)
    // The rest of the body is never read: once the reply is flushed the connection goes.
    res.once('finish', () => req.socket.destroy())
  }

  /** Removes what the call's files left; `undefined` when there is nothing to wait for. */
  #cleanup(): Promise<void> | undefined {
    if (this.#cleaning !== undefined) return this.#cleaning
    // A live part the method left unread is drained by its destroy; spools are removed.
    for (const arg of this.#args ?? []) if (!arg.destroyed) arg.destroy()
    if (this.#spools === undefined) return undefined
    this.#cleaning = Promise.all(this.#spools.map((spool) => spool.discard())).then(noop)
    return this.#cleaning
  }

  get socket(): Socket {
    return this.#req.socket
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
    this.#wake?.()
  }

  /** Ends the exchange now (server closing under a signal). */
  destroy(reason: KrpcError): void {
    this.#abortWith(reason)
    this.#req.socket.destroy()
  }
}
