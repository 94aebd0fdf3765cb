// The `browser` build of `@proto/krpc/client`: fetch and FormData only. It and what it imports use
// no `node:` module and no Buffer, and from @proto/framing only `@proto/framing/errors`.
import { DeadlineScheduler, UsageError } from '@proto/framing/errors'
import type { PeerInfo } from '@proto/framing'
import { isBinaryResult } from './binary-result.ts'
import { asFile, isFileInput, toPart } from './browser-file.ts'
import { CallGuard } from './call-deadline.ts'
import { checkCallOptions, checkVia, clientSettings } from './client-options.ts'
import type { ClientSettings } from './client-options.ts'
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
  KrpcClientLimits,
  KrpcConnectOptions,
  KrpcFileInput,
  KrpcFileOptions,
  KrpcFileSource,
  KrpcProxy,
} from './types.ts'

export { asFile, isBinaryResult, isFileInput }
export type { BinaryResult, KrpcCallOptions, KrpcClient, KrpcClientLimits, KrpcConnectOptions, KrpcFileInput, KrpcFileOptions, KrpcFileSource, KrpcProxy }

const OCTET_STREAM = 'application/octet-stream'

class Client implements KrpcClient {
  readonly methods: KrpcProxy
  readonly closed: Promise<void>
  readonly remote: PeerInfo
  readonly #settings: ClientSettings
  readonly #url: URL
  readonly #deadlines = new DeadlineScheduler()
  readonly #inFlight = new InFlight()
  #closing: Promise<void> | undefined
  #resolveClosed: () => void = () => {}

  constructor(options: KrpcConnectOptions) {
    const base = (globalThis as { location?: { href?: string } }).location?.href
    const settings = clientSettings(options, base)
    // The browser makes its own connections: it has no unix sockets, and its own TLS.
    if (options.path !== undefined) throw new UsageError('path (a unix socket) is not available in a browser')
    if (options.tls !== undefined) throw new UsageError('tls options are not available in a browser, whose own TLS applies')
    this.#settings = settings
    this.#url = settings.url
    this.remote = settings.remote
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
    checkCallOptions(opts)
    const settings = this.#settings
    const via = checkVia(opts.via ?? settings.via)
    const call = prepareCall(method, params, opts.pmhparams ?? settings.pmhparams, opts.files, isFileInput)
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
      return await this.#send(init, new CallGuard(this.#deadlines, opts, settings.timeout, `call '${method}'`))
    } finally {
      this.#inFlight.callEnded()
    }
  }

  async #send(init: { url: URL; method: 'GET' | 'POST'; body: FormData | URLSearchParams | undefined }, guard: CallGuard): Promise<unknown> {
    if (guard.stopped) throw guard.reason
    // fetch wants a signal; in a browser one controller per call is the cheap part.
    const controller = new AbortController()
    guard.onStop((reason) => controller.abort(reason))
    let handedOver = false
    try {
      let res: Response
      try {
        const request: RequestInit = { method: init.method, headers: this.#settings.headers, signal: controller.signal }
        if (init.body !== undefined) request.body = init.body
        res = await fetch(init.url, request)
      } catch (err) {
        if (guard.stopped) throw guard.reason
        throw new KrpcConnectError(init.url.host, { cause: err })
      }
      const status = res.status
      const type = mediaType(res.headers.get('content-type'))
      if (type === OCTET_STREAM && res.ok) {
        const binary = new FetchBinaryResult(res, this.#settings.maxResultBytes)
        this.#inFlight.binaryOpened(binary, () => guard.dispose())
        handedOver = true
        return binary
      }
      if (!isJsonType(type)) {
        await res.body?.cancel()
        throw unexpectedReply(status, res.statusText, `Content-Type ${type === '' ? 'missing' : type}`)
      }
      const declared = Number(res.headers.get('content-length') ?? Number.NaN)
      if (Number.isSafeInteger(declared) && declared > this.#settings.maxResultBytes) {
        await res.body?.cancel()
        throw new KrpcResultTooLargeError(declared, this.#settings.maxResultBytes)
      }
      let bytes: Uint8Array
      try {
        bytes = await readLimited(res.body, this.#settings.maxResultBytes)
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
    this.#deadlines.clear()
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
export async function connect(options: KrpcConnectOptions = {}): Promise<KrpcClient> {
  options.signal?.throwIfAborted()
  return new Client(options)
}
