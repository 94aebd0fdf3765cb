// The Node client: calls over node:http or node:https, keep-alive, file inputs streamed.
import { randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import type { ClientRequest, IncomingMessage } from 'node:http'
import { errorMapper, UsageError } from '@proto/framing'
import type { PeerInfo } from '@proto/framing'
import { ConnectAgent } from './agent.ts'
import { isBinaryResult } from './binary-result.ts'
import type { CallGuard } from './call-deadline.ts'
import { ClientCalls, NO_OPTIONS } from './client-calls.ts'
import type { StartedCall } from './client-calls.ts'
import { clientSettings } from './client-options.ts'
import { channels } from './diagnostics.ts'
import type { KrpcRequestInfo } from './diagnostics.ts'
import type { ClientSettings } from './client-options.ts'
import { KrpcClosedError, KrpcResultTooLargeError } from './errors.ts'
import { asFile, isFileInput, outgoing } from './file-input.ts'
import type { Outgoing } from './file-input.ts'
import { firstHeader, mediaType } from './headers.ts'
import { collectBody, NodeBinaryResult } from './node-binary-result.ts'
import { createProxy } from './proxy.ts'
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
import { contentLength, formEncode, UploadStop, writeMultipart } from './upload.ts'

export { asFile, isBinaryResult, isFileInput }
export type { BinaryResult, KrpcCallOptions, KrpcClient, KrpcClientLimits, KrpcConnectOptions, KrpcFileInput, KrpcFileOptions, KrpcFileSource, KrpcProxy }

const NO_FILES: readonly Outgoing[] = []
/** A transport failure below a call: anything but the package's own errors ends it as CLOSED. */
const toClosed = errorMapper({
  fallback: (err) => new KrpcClosedError('the connection ended before a complete reply', { cause: err }),
})

// eslint-disable-next-line @typescript-eslint/require-await -- async so that what it throws rejects
async function rejection(reason: unknown): Promise<never> {
  throw reason
}

class Client implements KrpcClient {
  readonly methods: KrpcProxy
  readonly closed: Promise<void>
  readonly remote: PeerInfo
  readonly #settings: ClientSettings
  readonly #host: string
  readonly #port: number
  readonly #path: string
  readonly #agent: ConnectAgent
  readonly #calls: ClientCalls

  constructor(options: KrpcConnectOptions) {
    const settings = clientSettings(options)
    const tls: unknown = options.tls
    if (tls !== undefined && (typeof tls !== 'object' || tls === null)) throw new UsageError('tls must be an object of node:tls connect options')
    if (options.path !== undefined && (typeof options.path !== 'string' || options.path === '')) throw new UsageError('path must be a non-empty string')
    this.#settings = settings
    this.remote = settings.remote
    const url = settings.url
    // Options made once: node:http would otherwise turn the URL into them on every call.
    this.#host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    this.#port = settings.remote.port
    this.#path = `${url.pathname}${url.search}`
    this.#agent = new ConnectAgent({
      host: this.#host,
      port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      path: options.path,
      tls: options.tls,
      https: url.protocol === 'https:',
      connectTimeout: settings.connectTimeout,
      client: this,
      remote: settings.remote,
    })
    this.#calls = new ClientCalls(settings, () => this.#agent.destroy())
    this.closed = this.#calls.closed
    this.methods = createProxy((method, args) => this.call(method, args))
  }

  proxy<T = KrpcProxy>(opts: Omit<KrpcCallOptions, 'files'> = {}): T {
    return createProxy((method, args) => this.call(method, args, opts)) as T
  }

  call(method: string, params?: unknown, opts: KrpcCallOptions = NO_OPTIONS): Promise<unknown> {
    let call: StartedCall<KrpcFileInput>
    try {
      call = this.#calls.start(method, params, opts, isFileInput)
    } catch (err) {
      return rejection(err)
    }
    const { via, guard } = call
    const info = channels.requestStart.hasSubscribers ? this.#started(via, method) : undefined
    let pending: Promise<unknown>
    // A call without files goes out in this turn; file inputs are measured first (a path is stat'ed).
    if (call.files.length > 0) pending = this.#sendFiles(call)
    else if (guard.stopped) pending = this.#failEarly(guard, guard.reason)
    else pending = this.#roundTrip(call.text, via, NO_FILES, guard)
    return info === undefined ? pending : this.#observed(pending, info)
  }

  #started(via: 'post' | 'get', method: string): KrpcRequestInfo {
    const request: KrpcRequestInfo = { verb: via === 'get' ? 'GET' : 'POST', method }
    channels.requestStart.publish({ side: 'client', remote: this.remote, connection: this, request })
    return request
  }

  /** `pending`, its end or failure told to diagnostics subscribers. */
  #observed(pending: Promise<unknown>, request: KrpcRequestInfo): Promise<unknown> {
    const message = { side: 'client' as const, remote: this.remote, connection: this, request }
    return pending.then((value) => {
      channels.requestEnd.publish(message)
      return value
    }, (err: unknown) => {
      channels.requestError.publish({ ...message, error: err })
      throw err
    })
  }

  async #sendFiles(call: StartedCall<KrpcFileInput>): Promise<unknown> {
    const guard = call.guard
    let files: Outgoing[]
    try {
      files = await Promise.all(call.files.map(({ field, input }) => outgoing(field, input)))
    } catch (err) {
      return this.#failEarly(guard, err)
    }
    if (guard.stopped) return this.#failEarly(guard, guard.reason)
    return this.#roundTrip(call.text, 'post', files, guard)
  }

  /** A call that ends before its request is made. */
  #failEarly(guard: CallGuard, reason: unknown): Promise<never> {
    this.#calls.ended(guard)
    return rejection(reason)
  }

  /** Sends the request and reads its reply; the call ends with the promise it returns. */
  #roundTrip(text: string, via: 'post' | 'get', files: readonly Outgoing[], guard: CallGuard): Promise<unknown> {
    const headers: Record<string, string> = { ...this.#settings.headers }
    let path = this.#path
    let body: string | undefined
    let boundary: string | undefined
    if (via === 'get') {
      path += `${path.includes('?') ? '&' : '?'}json=${formEncode(text)}`
    } else if (files.length === 0) {
      body = `json=${formEncode(text)}`
      headers['Content-Type'] = 'application/x-www-form-urlencoded'
      headers['Content-Length'] = String(body.length)
    } else {
      boundary = `krpc-${randomBytes(16).toString('hex')}`
      headers['Content-Type'] = `multipart/form-data; boundary=${boundary}`
      const length = contentLength(boundary, text, files)
      if (length !== undefined) headers['Content-Length'] = String(length)
    }
    let req: ClientRequest
    try {
      req = httpRequest({
        host: this.#host, port: this.#port, path, method: via === 'get' ? 'GET' : 'POST', headers, agent: this.#agent,
      })
    } catch (err) {
      return this.#failEarly(guard, err)
    }
    return new Promise<unknown>((resolve, reject) => {
      const upload = boundary === undefined ? undefined : new UploadStop()
      let settled = false
      const fail = (err: Error): void => {
        if (settled) return
        settled = true
        this.#calls.ended(guard)
        upload?.stop()
        req.destroy()
        reject(err)
      }
      guard.onStop((reason) => fail(reason as Error))
      req.on('error', (err) => fail(toClosed(err) as Error))
      req.on('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0
        const type = mediaType(firstHeader(res.rawHeaders, 'content-type'))
        if (type === 'application/octet-stream' && status >= 200 && status < 300) {
          // A binary reply may be the upload streamed back (an echo), so the upload goes on.
          if (settled) return
          settled = true
          const binary = new NodeBinaryResult(res, this.#settings.maxResultBytes)
          this.#calls.endedInBinary(guard, binary)
          guard.onStop(() => {
            res.destroy()
            req.destroy()
          })
          resolve(binary)
          return
        }
        // Any other reply is final, so an upload still going (a limit, an unknown method) stops;
        // a request cut short leaves its connection unusable, so it goes once the reply is read.
        const cutShort = !req.writableEnded
        upload?.stop()
        if (!isJsonType(type)) {
          res.resume()
          if (cutShort) res.on('end', () => req.destroy())
          fail(unexpectedReply(status, res.statusMessage ?? '', `Content-Type ${type === '' ? 'missing' : type}`))
          return
        }
        const limit = this.#settings.maxResultBytes
        const declared = Number(firstHeader(res.rawHeaders, 'content-length'))
        if (Number.isSafeInteger(declared) && declared > limit) {
          fail(new KrpcResultTooLargeError(declared, limit))
          return
        }
        collectBody(
          res,
          limit,
          (bytes) => {
            if (cutShort) req.destroy()
            let value: unknown
            try {
              value = interpretJson(status, res.statusMessage ?? '', bytes.toString('utf8'))
            } catch (err) {
              fail(err as Error)
              return
            }
            if (settled) return
            settled = true
            this.#calls.ended(guard)
            resolve(value)
          },
          fail,
        )
      })
      if (body !== undefined) req.end(body)
      else if (boundary === undefined || upload === undefined) req.end()
      else writeMultipart(req, boundary, text, files, upload).catch(fail)
    })
  }

  close(opts?: { signal?: AbortSignal | undefined }): Promise<void> {
    return this.#calls.close(opts)
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/**
 * A client for `url` (or `host` and `port`, or a unix socket `path`). Sends nothing until the
 * first call, and opens connections as calls need them; `signal` aborts the connect itself, the
 * other call options are defaults for every call.
 * @throws {UsageError} for an unknown option or a bad value
 */
// eslint-disable-next-line @typescript-eslint/require-await -- async so a bad option rejects rather than throws
export async function connect(options: KrpcConnectOptions = {}): Promise<KrpcClient> {
  options.signal?.throwIfAborted()
  return new Client(options)
}
