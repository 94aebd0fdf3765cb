// Where a client connects and how its calls go, checked: no `node:` module and no Buffer here.
import { UsageError } from '@proto/framing/errors'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'

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

/** `via` checked: `'post'` unless it says `'get'`. */
export function checkVia(via: unknown): 'post' | 'get' {
  if (via === undefined || via === 'post') return 'post'
  if (via === 'get') return 'get'
  throw new UsageError(`via must be 'post' or 'get', got ${typeof via === 'string' ? via : typeof via}`)
}
