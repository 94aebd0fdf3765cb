// The `browser` build of `@proto/krpc/client`: fetch and FormData only. It and what it imports use
// no `node:` module and no Buffer, and from @proto/framing only `@proto/framing/errors`.
import { UsageError } from '@proto/framing/errors'
import type { PeerInfo } from '@proto/framing'
import { isBinaryResult } from './binary-result.ts'
import { asFile, isFileInput, toPart } from './browser-file.ts'
import type { BrowserFileInput } from './browser-file.ts'
import type { CallGuard } from './call-deadline.ts'
import { ClientCalls, NO_OPTIONS } from './client-calls.ts'
import type { StartedCall } from './client-calls.ts'
import { clientSettings } from './client-options.ts'
import type { ClientSettings } from './client-options.ts'
import { KrpcConnectError, KrpcResultTooLargeError } from './errors.ts'
import { FetchBinaryResult, readLimited } from './fetch-result.ts'
import { createProxy } from './proxy.ts'
import { mediaType } from './headers.ts'
import { interpretJson, isJsonType, unexpectedReply } from './response.ts'
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

/** A request as fetch is given it. */
interface Init {
  readonly url: URL
  readonly method: 'GET' | 'POST'
  readonly body: FormData | URLSearchParams | undefined
}

class Client implements KrpcClient {
  readonly methods: KrpcProxy
  readonly closed: Promise<void>
  readonly remote: PeerInfo
  readonly #settings: ClientSettings
  readonly #url: URL
  readonly #calls: ClientCalls

  constructor(options: KrpcConnectOptions) {
    const base = (globalThis as { location?: { href?: string } }).location?.href
    const settings = clientSettings(options, base)
    // The browser makes its own connections: it has no unix sockets, and its own TLS.
    if (options.path !== undefined) throw new UsageError('path (a unix socket) is not available in a browser')
    if (options.tls !== undefined) throw new UsageError('tls options are not available in a browser, whose own TLS applies')
    this.#settings = settings
    this.#url = settings.url
    this.remote = settings.remote
    // fetch owns the connections, so closing has nothing of its own to release.
    this.#calls = new ClientCalls(settings)
    this.closed = this.#calls.closed
    this.methods = createProxy((method, args) => this.call(method, args))
  }

  proxy<T = KrpcProxy>(opts: Omit<KrpcCallOptions, 'files'> = {}): T {
    return createProxy((method, args) => this.call(method, args, opts)) as T
  }

  async call(method: string, params?: unknown, opts: KrpcCallOptions = NO_OPTIONS): Promise<unknown> {
    const call = this.#calls.start(method, params, opts, isFileInput)
    let init: Init
    try {
      init = this.#init(call)
    } catch (err) {
      this.#calls.ended(call.guard)
      throw err
    }
    return this.#send(init, call.guard)
  }

  /** What fetch is given for `call`. */
  #init(call: StartedCall<BrowserFileInput>): Init {
    if (call.via === 'get') {
      const url = new URL(this.#url)
      url.searchParams.append('json', call.text)
      return { url, method: 'GET', body: undefined }
    }
    if (call.files.length === 0) return { url: this.#url, method: 'POST', body: new URLSearchParams({ json: call.text }) }
    const form = new FormData()
    form.append('json', call.text)
    for (const { field, input } of call.files) {
      const { blob, filename } = toPart(field, input)
      form.append(field, blob, filename)
    }
    return { url: this.#url, method: 'POST', body: form }
  }

  /** Sends the request and reads its reply; the call ends with the promise it returns. */
  async #send(init: Init, guard: CallGuard): Promise<unknown> {
    // fetch wants a signal; in a browser one controller per call is the cheap part.
    const controller = new AbortController()
    guard.onStop((reason) => controller.abort(reason))
    let handedOver = false
    try {
      if (guard.stopped) throw guard.reason
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
        this.#calls.endedInBinary(guard, binary)
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
      if (!handedOver) this.#calls.ended(guard)
    }
  }

  close(opts?: { signal?: AbortSignal | undefined }): Promise<void> {
    return this.#calls.close(opts)
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
