import type { Buffer } from 'node:buffer'
import type { ParsedKey } from 'ssh2'
import { KorvBadKeyLineError } from './errors.ts'
import { fingerprint, parsePublicKey } from './keys.ts'
import { matchAddressList, parseAddressPattern } from './patterns.ts'
import type { AddressPattern } from './patterns.ts'

/** One usable authorized_keys line and the options korv applies. */
export interface AuthorizedKey {
  /** 1-based line number. */
  readonly line: number
  readonly type: string
  readonly blob: Buffer
  readonly key: ParsedKey
  readonly fingerprint: string
  readonly from: readonly AddressPattern[] | undefined
  /** Epoch milliseconds after which the key is refused. */
  readonly expiresAt: number | undefined
  /** False after `restrict` or `no-port-forwarding`, until a later `port-forwarding`. */
  readonly portForwarding: boolean
  /** `permitopen` destinations; empty allows any. */
  readonly permitOpen: readonly { readonly host: string; readonly port: string }[]
}

// Accepted by OpenSSH, meaningless for a server that runs no shell and forwards nothing.
const IGNORED_FLAGS = new Set([
  'pty', 'no-pty', 'agent-forwarding', 'no-agent-forwarding', 'x11-forwarding', 'no-x11-forwarding',
  'user-rc', 'no-user-rc',
])
const IGNORED_VALUES = new Set(['command', 'environment', 'permitlisten', 'tunnel'])

class LineError extends Error {}

/** Splits at `separator` outside double quotes (a backslash escapes a quote inside them). */
function splitUnquoted(text: string, separator: (char: string) => boolean, once: boolean): string[] {
  const parts: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const char = text[i] ?? ''
    if (quoted && char === '\\' && text[i + 1] === '"') i++
    else if (char === '"') quoted = !quoted
    else if (!quoted && separator(char)) {
      parts.push(text.slice(start, i))
      start = i + 1
      if (once) break
    }
  }
  if (quoted) throw new LineError('unterminated quote in options')
  parts.push(text.slice(start))
  return parts
}

function unquote(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) {
    throw new LineError('option value must be in double quotes')
  }
  return value.slice(1, -1).replace(/\\"/g, '"')
}

function parseExpiry(text: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/i.exec(text)
  if (m === null) throw new LineError(`bad expiry-time ${text}`)
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((part) => Number(part ?? 0)) as [
    number, number, number, number, number, number,
  ]
  const utc = m[7] !== ''
  // Like OpenSSH: local time unless it ends in Z.
  const date = utc
    ? new Date(Date.UTC(year, month - 1, day, hour, minute, second))
    : new Date(year, month - 1, day, hour, minute, second)
  const get = utc
    ? [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    : [date.getFullYear(), date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds()]
  if (get.join() !== [year, month, day, hour, minute, second].join()) throw new LineError(`bad expiry-time ${text}`)
  return date.getTime()
}

function parsePermitOpen(text: string): { host: string; port: string } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\*|\d{1,5})$/.exec(text)
  const host = m?.[1] ?? m?.[2]
  const port = m?.[3]
  if (host === undefined || port === undefined || (port !== '*' && (Number(port) < 1 || Number(port) > 65_535))) {
    throw new LineError(`bad permitopen ${text}`)
  }
  return { host: host.toLowerCase(), port }
}

const looksLikeKeyType = (token: string): boolean => /^(?:ssh-|ecdsa-|sk-)/.test(token) || token.includes('@')

function parseLine(text: string, line: number): AuthorizedKey {
  let rest = text
  let from: AddressPattern[] | undefined
  let expiresAt: number | undefined
  let portForwarding = true
  const permitOpen: { host: string; port: string }[] = []
  const first = /^\S+/.exec(text)?.[0] ?? ''
  if (!looksLikeKeyType(first)) {
    const [options = '', after = ''] = splitUnquoted(text, (c) => c === ' ' || c === '\t', true)
    rest = after.trim()
    for (const option of splitUnquoted(options, (c) => c === ',', false)) {
      const eq = option.indexOf('=')
      const name = (eq === -1 ? option : option.slice(0, eq)).toLowerCase()
      const value = eq === -1 ? undefined : unquote(option.slice(eq + 1))
      if (IGNORED_FLAGS.has(name) || name === 'restrict' || name === 'no-port-forwarding' || name === 'port-forwarding') {
        if (value !== undefined) throw new LineError(`option ${name} takes no value`)
        if (name === 'restrict' || name === 'no-port-forwarding') portForwarding = false
        else if (name === 'port-forwarding') portForwarding = true
        continue
      }
      if (value === undefined) throw new LineError(`unknown option ${name}`)
      switch (name) {
        case 'from': {
          const patterns = value.split(',').map(parseAddressPattern)
          if (patterns.some((p) => p === undefined)) throw new LineError(`bad from="${value}"`)
          from = [...(from ?? []), ...(patterns as AddressPattern[])]
          break
        }
        case 'expiry-time':
          expiresAt = parseExpiry(value)
          break
        case 'permitopen':
          permitOpen.push(parsePermitOpen(value))
          break
        default:
          if (!IGNORED_VALUES.has(name)) throw new LineError(`unknown option ${name}`)
      }
    }
  }
  const [type = '', base64 = ''] = rest.split(/\s+/)
  const parsed = parsePublicKey(type, base64)
  if (typeof parsed === 'string') throw new LineError(parsed)
  return {
    line, type, blob: parsed.blob, key: parsed.key, fingerprint: fingerprint(parsed.blob),
    from, expiresAt, portForwarding, permitOpen,
  }
}

/**
 * Every usable line of an OpenSSH authorized_keys file. A line korv cannot honour in full is
 * skipped and reported through `onError`, failing closed as OpenSSH does.
 */
export function parseAuthorizedKeys(text: string, onError: (err: KorvBadKeyLineError) => void): AuthorizedKey[] {
  const keys: AuthorizedKey[] = []
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '').trim()
    if (line.length === 0 || line.startsWith('#')) return
    try {
      keys.push(parseLine(line, index + 1))
    } catch (err) {
      if (!(err instanceof LineError)) throw err
      onError(new KorvBadKeyLineError(index + 1, err.message))
    }
  })
  return keys
}

/** Whether the line's `from` and `expiry-time` let this peer in now. */
export function admits(entry: AuthorizedKey, address: string, now: number): boolean {
  if (entry.expiresAt !== undefined && now > entry.expiresAt) return false
  return entry.from === undefined || matchAddressList(address, entry.from)
}

/** Whether a `direct-tcpip` open to `host`:`port` is allowed by the line. */
export function permitsOpen(entry: AuthorizedKey, host: string, port: number): boolean {
  if (!entry.portForwarding) return false
  if (entry.permitOpen.length === 0) return true
  const name = host.toLowerCase()
  return entry.permitOpen.some((p) => (p.host === '*' || p.host === name) && (p.port === '*' || Number(p.port) === port))
}
