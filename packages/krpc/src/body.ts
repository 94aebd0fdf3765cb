// Reading a POST body: urlencoded forms through the form reader, multipart through busboy, the body clock, backpressure and the part limits.
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import busboy from 'busboy'
import type { Busboy, FieldInfo, FileInfo } from 'busboy'
import { Coalescer } from './coalescer.ts'
import { FILE_HIGH_WATER_MARK, RpcCode } from './constants.ts'
import {
  KrpcBadRequestError,
  KrpcBodyTimeoutError,
  KrpcFieldTooLargeError,
  KrpcFileTooLargeError,
  KrpcTooManyPartsError,
} from './errors.ts'
import type { KrpcRequestError } from './errors.ts'
import type { FormReader } from './form.ts'
import { firstHeader } from './headers.ts'
import { PartTypeRewriter, multipartBoundary } from './part-type.ts'
import type { ResolvedLimits } from './types.ts'

/** Where a body's reader reports what it finds. */
export interface BodySink {
  /** The body has failed: no more reports follow. */
  readonly failed: boolean
  /** The call text: multipart's first `json` or `JSON` field at once, urlencoded's once the body ends. */
  call(text: string): void
  /** A file part of a multipart body, after the call. */
  file(name: string, stream: Readable, info: FileInfo): void
  /** The body is complete and held a call. */
  end(): void
  /** A limit, a timeout or a malformed body. */
  fail(err: KrpcRequestError): void
}

function noop(): void {}

/**
 * Milliseconds between checks that the peer of a request held back by backpressure is still
 * there. A paused socket is not read, so the kernel's news of a reset never reaches Node: Node
 * offers no way to watch a socket for errors without reading it, and reading would undo the
 * backpressure. A reset, though, is an error the kernel keeps on the socket and returns from the
 * next send, an empty one included, so an empty write asks for it without adding a byte to the
 * response. An orderly close (FIN) queues behind the unread body and shows only once it is read:
 * such a peer is reaped by requestTimeout, as a slow one is.
 */
export const RESET_PROBE_INTERVAL = 1000

const EMPTY = Buffer.alloc(0)

function probe(socket: { readonly destroyed: boolean; write(chunk: Buffer): boolean }): void {
  if (!socket.destroyed) socket.write(EMPTY)
}

/**
 * The body of one POST, from its first byte to its end. An urlencoded form is read by the form
 * reader as it streams; a multipart body goes to busboy, its small pieces copied together first.
 * The body clock (`bodyTimeout`) runs only while more bytes are due and the reader is not held
 * back by a method that reads its file slowly.
 */
export class RequestBody {
  readonly #req: IncomingMessage
  readonly #limits: ResolvedLimits
  readonly #sink: BodySink
  #bb: Busboy | undefined
  #coalescer: Coalescer | undefined
  #partTypes: PartTypeRewriter | undefined
  #form: FormReader | undefined
  #timer: NodeJS.Timeout | undefined
  /** Checks that the peer is still there while the method holds the body back. */
  #probe: NodeJS.Timeout | undefined
  /** Body bytes received, and the `Content-Length` (Infinity for a chunked body). */
  #received = 0
  readonly #declaredLength: number
  #ended = false
  #stopped = false
  #callSeen = false
  #parts = 0

  /**
   * Starts reading; `sink.fail` may be called before this returns (busboy refused the head).
   * @param form the reader of an urlencoded body; a multipart body without one
   */
  constructor(req: IncomingMessage, limits: ResolvedLimits, sink: BodySink, form: FormReader | undefined) {
    this.#req = req
    this.#limits = limits
    this.#sink = sink
    const declared = firstHeader(req.rawHeaders, 'content-length')
    this.#declaredLength = declared === undefined ? Infinity : Number(declared)
    if (form !== undefined) this.#form = form
    else if (!this.#startBusboy()) return
    req.on('data', this.#onData)
    req.on('end', this.#onEnd)
    // The clock starts only when the server waits for a byte: a body that came with the head is
    // parsed by the time of the immediate, and the first chunk of one that did not starts it if
    // more is due. Paused, the request waits for its method to read, and its clock with it.
    setImmediate(() => {
      if (this.#timer === undefined && !req.isPaused() && this.#moreDue()) this.#armTimer()
    })
  }

  /** Whether the body has ended (or failed): nothing more will be read. */
  get ended(): boolean {
    return this.#ended
  }

  /** Stops reading for good: the clock, the request's data and busboy. */
  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#clearTimer()
    this.#stopProbe()
    this.#coalescer?.stop()
    const req = this.#req
    req.off('data', this.#onData)
    req.off('end', this.#onEnd)
    req.pause()
    const bb = this.#bb
    if (bb !== undefined) {
      bb.removeAllListeners('file')
      bb.removeAllListeners('field')
      bb.on('error', noop)
      // Not at once: this may run inside one of busboy's own events, which then goes on.
      process.nextTick(() => bb.destroy())
    }
  }

  /** Hands a multipart body to busboy; false when busboy refused the request. */
  #startBusboy(): boolean {
    const limits = this.#limits
    let bb: Busboy
    try {
      // busboy marks a field or file that reaches its limit exactly as truncated, so it is given
      // one byte more and only a real excess fails; parts likewise, since busboy reports the
      // limit when the last allowed part ends. Part names are checked here: busboy applies
      // fieldNameSize to urlencoded names only.
      bb = busboy({
        headers: this.#req.headers,
        defParamCharset: 'utf8',
        highWaterMark: FILE_HIGH_WATER_MARK,
        fileHwm: FILE_HIGH_WATER_MARK,
        limits: { fieldSize: limits.fieldSize + 1, fileSize: limits.fileSize + 1, files: limits.files,
          fields: limits.fields, parts: limits.parts + 1 },
      })
    } catch (err) {
      this.#sink.fail(new KrpcBadRequestError('Malformed request body.', 400, RpcCode.INVALID_REQUEST, { cause: err }))
      return false
    }
    this.#bb = bb
    // busboy has accepted the head, so the content type holds a boundary.
    const partTypes = new PartTypeRewriter(multipartBoundary(this.#req.headers['content-type'] ?? '') ?? '', this.#toBusboy)
    this.#partTypes = partTypes
    this.#coalescer = new Coalescer((piece) => partTypes.push(piece))
    bb.on('field', this.#onField)
    bb.on('file', this.#onFile)
    const sink = this.#sink
    bb.on('filesLimit', () => sink.fail(new KrpcTooManyPartsError('files', limits.files)))
    bb.on('fieldsLimit', () => sink.fail(new KrpcTooManyPartsError('fields', limits.fields)))
    bb.on('partsLimit', () => sink.fail(new KrpcTooManyPartsError('parts', limits.parts)))
    bb.on('error', (err: unknown) => {
      sink.fail(new KrpcBadRequestError('Malformed request body.', 400, RpcCode.INVALID_REQUEST, { cause: err }))
    })
    bb.on('finish', this.#onBodyEnd)
    return true
  }

  #onData = (chunk: Buffer): void => {
    if (this.#sink.failed) return
    this.#received += chunk.length
    const form = this.#form
    if (form !== undefined) {
      form.push(chunk)
      this.#bodyByte()
      return
    }
    this.#coalescer?.push(chunk, this.#received >= this.#declaredLength)
  }

  /** A piece of a multipart body for busboy, which may ask to wait. */
  #toBusboy = (piece: Buffer): void => {
    const bb = this.#bb
    if (bb === undefined || this.#sink.failed) return
    if (bb.write(piece)) {
      this.#bodyByte()
    } else if (!this.#req.isPaused()) {
      // The method is not reading its file as fast as it arrives: the socket waits, and the
      // body clock with it, while a probe watches for the peer to go.
      this.#req.pause()
      this.#clearTimer()
      this.#probe ??= setInterval(probe, RESET_PROBE_INTERVAL, this.#req.socket).unref()
      bb.once('drain', this.#onDrain)
    }
  }

  #onDrain = (): void => {
    this.#stopProbe()
    if (this.#sink.failed) return
    this.#armTimer()
    this.#req.resume()
  }

  #onEnd = (): void => {
    this.#clearTimer()
    const form = this.#form
    if (form === undefined) {
      this.#coalescer?.flush()
      this.#partTypes?.end()
      this.#bb?.end()
      return
    }
    this.#ended = true
    const text = form.end()
    const sink = this.#sink
    if (sink.failed) return
    if (text === undefined) {
      sink.fail(new KrpcBadRequestError("Missing 'json' parameter.", 400))
      return
    }
    this.#callSeen = true
    sink.call(text)
    sink.end()
  }

  /** A body byte came: the clock starts again if more are due. */
  #bodyByte(): void {
    if (this.#timer !== undefined) this.#timer.refresh()
    else if (this.#moreDue()) this.#armTimer()
  }

  /** Whether the server waits for body bytes: the body has not ended nor reached its declared length. */
  #moreDue(): boolean {
    return !this.#req.complete && !this.#ended && !this.#sink.failed && this.#received < this.#declaredLength
  }

  #armTimer(): void {
    const timeout = this.#limits.bodyTimeout
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#sink.fail(new KrpcBodyTimeoutError(timeout)), timeout)
    } else this.#timer.refresh()
  }

  #stopProbe(): void {
    clearInterval(this.#probe)
    this.#probe = undefined
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** True when the part may go on; fails the body on a part past a limit. */
  #countPart(name: string): boolean {
    const limits = this.#limits
    if (++this.#parts > limits.parts) {
      this.#sink.fail(new KrpcTooManyPartsError('parts', limits.parts))
      return false
    }
    if (Buffer.byteLength(name) > limits.fieldNameSize) {
      this.#sink.fail(new KrpcFieldTooLargeError('fieldNameSize', limits.fieldNameSize))
      return false
    }
    return true
  }

  #onField = (name: string, value: string, info: FieldInfo): void => {
    if (this.#sink.failed || !this.#countPart(name)) return
    if (info.valueTruncated) {
      this.#sink.fail(new KrpcFieldTooLargeError('fieldSize', this.#limits.fieldSize))
      return
    }
    if (!this.#callSeen && (name === 'json' || name === 'JSON')) {
      this.#callSeen = true
      this.#sink.call(value)
    }
  }

  #onFile = (name: string, stream: Readable, info: FileInfo): void => {
    const sink = this.#sink
    const fileSize = this.#limits.fileSize
    stream.on('error', noop)
    stream.once('limit', () => sink.fail(new KrpcFileTooLargeError(name, fileSize)))
    if (sink.failed || !this.#countPart(name)) {
      stream.resume()
      return
    }
    if (!this.#callSeen) {
      stream.resume()
      sink.fail(new KrpcBadRequestError("File part before the 'json' field.", 400))
      return
    }
    sink.file(name, stream, info)
  }

  #onBodyEnd = (): void => {
    this.#ended = true
    const sink = this.#sink
    if (sink.failed) return
    if (!this.#callSeen) {
      sink.fail(new KrpcBadRequestError("Missing 'json' parameter.", 400))
      return
    }
    sink.end()
  }
}
