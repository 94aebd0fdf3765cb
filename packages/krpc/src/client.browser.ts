// The `browser` build of `@proto/krpc/client`: fetch and FormData only. It and what it imports use
// no `node:` module and no Buffer, and from @proto/framing only `@proto/framing/errors`.
import { checkLimit, UsageError } from '@proto/framing/errors'
import { isBinaryResult } from './binary-result.ts'
import { asFile, isFileInput, toPart } from './browser-file.ts'
import { CallGuard } from './call-guard.ts'
import { checkVia, clientUrl } from './client-options.ts'
import { DEFAULT_MAX_RESULT_BYTES, DEFAULT_TIMEOUT } from './constants.ts'
import { KrpcClosedError, KrpcConnectError, KrpcResultTooLargeError } from './errors.ts'
import { FetchBinaryResult, readLimited } from './fetch-result.ts'
import { InFlight } from './in-flight.ts'
import { prepareCall } from './prepare.ts'
import { createProxy } from './proxy.ts'
import { interpretJson, isJsonType, mediaType, unexpectedReply } from './response.ts'
import type {
  BinaryResult,
  KrpcCallOptions,
  KrpcClient,
  KrpcClientOptions,
  KrpcFileInput,
  KrpcFileOptions,
  KrpcFileSource,
  KrpcProxy,
} from './types.ts'

export { asFile, isBinaryResult, isFileInput }
export type { BinaryResult, KrpcCallOptions, KrpcClient, KrpcClientOptions, KrpcFileInput, KrpcFileOptions, KrpcFileSource, KrpcProxy }

const OCTET_STREAM = 'application/octet-stream'

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
