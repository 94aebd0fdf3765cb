// Shared by the Node and browser clients: no `node:` modules and no Buffer here.
import { UsageError } from '@proto/framing/errors'
import { encodeJson } from './codec.ts'
import { DEFAULT_HOST, DEFAULT_PORT, FILE_PREFIX } from './constants.ts'
import { KrpcBadResponseError, KrpcHttpStatusError, RemoteError } from './errors.ts'

/** Names a caller may give its own file parts (`files: { name: input }`). */
export const FILE_NAME = /^[A-Za-z_][A-Za-z0-9._-]{0,63}$/

/** A call ready to go: its JSON text and its file parts, in order. */
export interface PreparedCall<F> {
  readonly text: string
  readonly files: readonly { readonly field: string; readonly input: F }[]
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * The call text and file parts of a call: top-level file inputs (array elements, object
 * values, or `params` itself) become `__file__:1`, `__file__:2`, …; `named` adds parts for
 * references the caller wrote.
 * @throws {UsageError} for a method that is not a string or a bad file part name
 * @throws {KrpcUnserializableError} for params or pmhparams that are not plain data
 */
export function prepareCall<F>(method: string, params: unknown, pmhparams: unknown,
  named: Readonly<Record<string, unknown>> | undefined, isFile: (value: unknown) => value is F): PreparedCall<F> {
  if (typeof method !== 'string') throw new UsageError('the method name must be a string')
  const files: { field: string; input: F }[] = []
  const ref = (value: unknown): unknown => {
    if (!isFile(value)) return value
    const field = `${FILE_PREFIX}${files.length + 1}`
    files.push({ field, input: value })
    return field
  }
  let sent: unknown
  if (params === undefined) sent = []
  else if (Array.isArray(params)) sent = params.map(ref)
  else if (isFile(params)) sent = ref(params)
  else if (isPlainObject(params)) sent = Object.fromEntries(Object.entries(params).map(([key, value]) => [key, ref(value)]))
  else sent = params
  if (named !== undefined) {
    for (const [name, input] of Object.entries(named)) {
      // Automatic names are digits and these start with a letter or `_`, so the two never meet.
      if (!FILE_NAME.test(name)) throw new UsageError(`file part name ${JSON.stringify(name)} must match ${String(FILE_NAME)}`)
      if (!isFile(input)) throw new UsageError(`files.${name} is not a file input`)
      files.push({ field: FILE_PREFIX + name, input })
    }
  }
  const text = encodeJson({ method, params: sent, pmhparams: pmhparams ?? null })
  return { text, files }
}

/** The media type of a `Content-Type` value, lower case, without parameters. */
export function mediaType(contentType: string | null | undefined): string {
  if (contentType === null || contentType === undefined) return ''
  const semi = contentType.indexOf(';')
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
}

export function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json')
}

function isOk(status: number): boolean {
  return status >= 200 && status < 300
}

/** The error for a reply that is neither binary nor a KRPC JSON body. */
export function unexpectedReply(status: number, statusText: string, detail: string, cause?: unknown): Error {
  if (!isOk(status)) return new KrpcHttpStatusError(status, statusText)
  return new KrpcBadResponseError(`unexpected reply: ${detail}`, status, cause === undefined ? undefined : { cause })
}

/**
 * The value of a JSON reply: `result` as it is, `error` as a `RemoteError` at any status.
 * @throws {RemoteError} for a KRPC error
 * @throws {KrpcHttpStatusError} for another non-2xx reply
 * @throws {KrpcBadResponseError} for another 2xx reply
 */
export function interpretJson(status: number, statusText: string, text: string): unknown {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (err) {
    throw unexpectedReply(status, statusText, 'the body is not JSON', err)
  }
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const reply = body as Record<string, unknown>
    const error = reply.error
    if (typeof error === 'object' && error !== null) {
      const { code, message } = error as Record<string, unknown>
      throw new RemoteError(typeof code === 'number' ? code : Number(code), typeof message === 'string' ? message : String(message),
        status, 'info' in error ? { info: (error as Record<string, unknown>).info } : undefined)
    }
    if ('result' in reply) return reply.result
  }
  throw unexpectedReply(status, statusText, 'a JSON body without result or error')
}

/**
 * What stops a call: the caller's signal, or the timeout until `stopTimer` (a binary reply's
 * headers). A plain callback rather than an AbortController per call: small calls are the hot
 * path, and every controller and abort costs an object graph and a DOMException.
 */
export class CallGuard {
  #stopped = false
  #reason: unknown
  #onStop: ((reason: unknown) => void) | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #signal: AbortSignal | undefined
  #onAbort: (() => void) | undefined

  constructor(signal: AbortSignal | undefined, timeout: number) {
    this.#signal = signal
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#stop(signal.reason)
        return
      }
      this.#onAbort = () => this.#stop(signal.reason)
      signal.addEventListener('abort', this.#onAbort, { once: true })
    }
    this.#timer = setTimeout(timedOut, timeout, this)
  }

  /** @internal the timer's end */
  timedOut(): void {
    this.#stop(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
  }

  #stop(reason: unknown): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#reason = reason
    this.dispose()
    this.#onStop?.(reason)
  }

  get stopped(): boolean {
    return this.#stopped
  }

  get reason(): unknown {
    return this.#reason
  }

  /** `stop` is called once, at once if the call is already stopped. */
  onStop(stop: (reason: unknown) => void): void {
    this.#onStop = stop
    if (this.#stopped) stop(this.#reason)
  }

  stopTimer(): void {
    clearTimeout(this.#timer)
  }

  dispose(): void {
    clearTimeout(this.#timer)
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort)
  }
}

// One function for every guard's timer, so a call allocates no closure for it.
function timedOut(guard: CallGuard): void {
  guard.timedOut()
}

/** A binary reply: raw bytes, read once as a stream or all at once. */
export interface BinaryResult {
  /** `Content-Length` when the server sent one. */
  readonly size: number | undefined
  stream(): ReadableStream<Uint8Array>
  /** @throws {KrpcResultTooLargeError} past `maxResultBytes` */
  bytes(): Promise<Uint8Array>
  cancel(): Promise<void>
}

export const BINARY_RESULT = Symbol.for('@proto/krpc/binary-result')

/** True for what `call()` returns for an `application/octet-stream` reply. */
export function isBinaryResult(value: unknown): value is BinaryResult {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BINARY_RESULT] === true
}

/** `client.methods`: every string key but `then` is a name segment, so the proxy is not thenable. */
export type KrpcProxy = { readonly [name: string]: KrpcProxy } & ((...args: unknown[]) => Promise<unknown>)

export function createProxy(invoke: (method: string, args: unknown[]) => Promise<unknown>, path = ''): KrpcProxy {
  const target = (): void => {}
  return new Proxy(target, {
    get(_target, key) {
      if (typeof key !== 'string' || key === 'then') return undefined
      return createProxy(invoke, path === '' ? key : `${path}.${key}`)
    },
    apply(_target, _this, args: unknown[]) {
      return invoke(path, args)
    },
  }) as unknown as KrpcProxy
}

/** The URL a client talks to. */
export function clientUrl(options: { url?: string | undefined; host?: string | undefined; port?: number | undefined }, base?: string): URL {
  if (options.url !== undefined) {
    try {
      return new URL(options.url, base)
    } catch (err) {
      throw new UsageError(`bad url ${JSON.stringify(options.url)}`, { cause: err })
    }
  }
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORT
  return new URL(`http://${host.includes(':') ? `[${host}]` : host}:${port}/`)
}


export function checkVia(via: unknown): 'post' | 'get' {
  if (via === undefined || via === 'post') return 'post'
  if (via === 'get') return 'get'
  throw new UsageError(`via must be 'post' or 'get', got ${typeof via === 'string' ? via : typeof via}`)
}

/** A binary result as a client's `close()` sees it. */
export interface OpenBinary {
  /** Its body has been handed to the caller. */
  readonly taken: boolean
  /** Settles once the body is read, cancelled or failed. */
  readonly finished: Promise<void>
  cancel(): Promise<void>
}

/** What a client's `close()` waits for: the calls in flight, then the binary results still open. */
export class InFlight {
  #calls = 0
  #idle: (() => void) | undefined
  readonly #binaries = new Set<OpenBinary>()

  callStarted(): void {
    this.#calls++
  }

  callEnded(): void {
    if (--this.#calls === 0) this.#idle?.()
  }

  /** Keeps `binary` until its body is finished, then calls `onFinished`. */
  binaryOpened(binary: OpenBinary, onFinished: () => void): void {
    this.#binaries.add(binary)
    void binary.finished.then(() => {
      onFinished()
      this.#binaries.delete(binary)
    })
  }

  /** Waits for every call, then for every binary body being read; one nobody started would wait forever, so it is cancelled. */
  async drained(): Promise<void> {
    if (this.#calls > 0) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve
      })
    }
    await Promise.all([...this.#binaries].map((binary) => (binary.taken ? binary.finished : binary.cancel())))
  }
}
