// A client's options checked and resolved, the same in Node and in browsers: no `node:` module and no Buffer here.
import { checkLimit, checkOptions, checkTimeout, UsageError } from '@proto/framing/errors'
import type { PeerInfo } from '@proto/framing'
import type { OptionNames } from '@proto/framing/errors'
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_HOST, DEFAULT_MAX_RESULT_BYTES, DEFAULT_PORT, DEFAULT_TIMEOUT } from './constants.ts'
import type { KrpcCallOptions, KrpcClientLimits, KrpcConnectOptions } from './types.ts'

const CALL_OPTION_NAMES = {
  signal: true,
  timeout: true,
  files: true,
  via: true,
  pmhparams: true,
} as const satisfies OptionNames<KrpcCallOptions>

const LIMIT_NAMES = { maxResultBytes: true } as const satisfies OptionNames<KrpcClientLimits>

const CONNECT_OPTION_NAMES = {
  signal: true,
  timeout: true,
  via: true,
  pmhparams: true,
  url: true,
  host: true,
  port: true,
  path: true,
  tls: true,
  connectTimeout: true,
  headers: true,
  limits: LIMIT_NAMES,
} as const satisfies OptionNames<KrpcConnectOptions>

/** What every call of a client starts from. */
export interface ClientSettings {
  readonly url: URL
  readonly remote: PeerInfo
  readonly headers: Readonly<Record<string, string>>
  readonly timeout: number
  readonly connectTimeout: number
  readonly maxResultBytes: number
  readonly via: 'post' | 'get'
  readonly pmhparams: unknown
}

/**
 * `connect()`'s options checked, with their defaults; a relative `url` resolves against `base`.
 * @throws {UsageError} for an unknown option or a bad value
 */
export function clientSettings(options: KrpcConnectOptions, base?: string): ClientSettings {
  checkOptions(options, CONNECT_OPTION_NAMES, 'connect()')
  const url = clientUrl(options, base)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`unsupported protocol ${url.protocol}`)
  checkHeaders(options.headers)
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  return {
    url,
    remote: options.path === undefined ? { address: hostname, port } : { address: options.path, port: 0 },
    headers: { ...options.headers },
    timeout: checkTimeout('timeout', options.timeout, DEFAULT_TIMEOUT),
    connectTimeout: checkTimeout('connectTimeout', options.connectTimeout, DEFAULT_CONNECT_TIMEOUT),
    maxResultBytes: checkLimit('limits.maxResultBytes', options.limits?.maxResultBytes, DEFAULT_MAX_RESULT_BYTES),
    via: checkVia(options.via),
    pmhparams: options.pmhparams,
  }
}

// RFC 9110: a field name is a token; a value has no control character but tab.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/

/** `headers` checked here, where a bad one would otherwise escape from each call as node:http's or fetch's own error. */
function checkHeaders(headers: unknown): void {
  if (headers === undefined) return
  if (typeof headers !== 'object' || headers === null) throw new UsageError('headers must be an object')
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw new UsageError(`header name ${JSON.stringify(name)} is not a token`)
    if (typeof value !== 'string') throw new UsageError(`header ${name} must be a string`)
    if (BAD_VALUE.test(value)) throw new UsageError(`header ${name} has a character a header cannot carry`)
  }
}

/**
 * A call's options checked.
 * @throws {UsageError} for an unknown option
 */
export function checkCallOptions(options: KrpcCallOptions): void {
  checkOptions(options, CALL_OPTION_NAMES, 'call()')
}

/** The URL a client talks to. */
function clientUrl(options: KrpcConnectOptions, base?: string): URL {
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

/** `via` checked: `'post'` unless it says `'get'`. */
export function checkVia(via: unknown): 'post' | 'get' {
  if (via === undefined || via === 'post') return 'post'
  if (via === 'get') return 'get'
  throw new UsageError(`via must be 'post' or 'get', got ${typeof via === 'string' ? via : typeof via}`)
}
