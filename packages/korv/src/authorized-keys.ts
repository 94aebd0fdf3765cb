// authorized_keys lines read as OpenSSH's sshd reads them (auth-options.c), and the options korv applies.
import type { Buffer } from 'node:buffer'
import type { ParsedKey } from 'ssh2'
import { matchAddressList, parseAddressList } from './address-list.ts'
import type { AddressList } from './address-list.ts'
import { KorvBadKeyLineError } from './errors.ts'
import { fingerprint, parsePublicKey } from './keys.ts'

/** One usable authorized_keys line and the options korv applies. */
export interface AuthorizedKey {
  /** 1-based line number. */
  readonly line: number
  readonly type: string
  readonly blob: Buffer
  readonly key: ParsedKey
  readonly fingerprint: string
  /** The `from=` list; the peer's address must match it. */
  readonly from: AddressList | undefined
  /** The earliest `expiry-time`, in epoch milliseconds (a whole second): refused from the next second on. */
  readonly expiresAt: number | undefined
  /** False after `restrict` or `no-port-forwarding`, until a later `port-forwarding`. */
  readonly portForwarding: boolean
  /** `permitopen` destinations (host as written, `*` any); empty allows any. */
  readonly permitOpen: readonly { readonly host: string; readonly port: number | '*' }[]
}

// The key type names sshd's sshkey_read knows: a line starting with one has no options.
const KNOWN_KEY_TYPES = new Set(
  [
    'ssh-ed25519', 'ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
    'sk-ecdsa-sha2-nistp256@openssh.com', 'sk-ssh-ed25519@openssh.com', 'ssh-xmss@openssh.com', 'rsa-sha2-256', 'rsa-sha2-512',
  ].flatMap((type) => [type, type.replace(/(@openssh\.com)?$/, '-cert-v01@openssh.com')]),
)

// auth-options.c's flags, in the order it tries them; `true` for those that take a `no-` form.
const FLAGS: readonly (readonly [string, boolean])[] = [
  ['restrict', false], ['cert-authority', false], ['port-forwarding', true], ['agent-forwarding', true],
  ['x11-forwarding', true], ['touch-required', true], ['verify-required', true], ['pty', true], ['user-rc', true],
]
const VALUE_OPTIONS = ['command', 'principals', 'from', 'expiry-time', 'environment', 'permitopen', 'permitlisten', 'tunnel']
// SSH_AUTHOPT_PERMIT_MAX and SSH_AUTHOPT_ENV_MAX: one more directive past them refuses the line.
const MAX_PERMITS = 4096
const MAX_ENVIRONMENT = 1024
const MAX_HOST_LENGTH = 1024
// SSH_TUNID_MAX
const MAX_TUNNEL = 0x7fff_fffd

class LineError extends Error {}

const asciiLower = (text: string): string => text.replace(/[A-Z]/g, (c) => c.toLowerCase())

/** sshkey_advance_past_options: the end of the options, outside double quotes. */
function optionsEnd(line: string): number {
  let quoted = false
  let i = 0
  for (; i < line.length && (quoted || (line[i] !== ' ' && line[i] !== '\t')); i++) {
    if (line[i] === '\\' && line[i + 1] === '"') i++
    else if (line[i] === '"') quoted = !quoted
  }
  if (quoted) throw new LineError('unterminated quote in options')
  return i
}

/** opt_dequote: a value in double quotes at `start`, `\"` standing for a quote. */
function dequote(text: string, start: number): { value: string; end: number } {
  if (text[start] !== '"') throw new LineError('option value must be in double quotes')
  let value = ''
  let i = start + 1
  for (; i < text.length && text[i] !== '"'; i++) {
    if (text[i] === '\\' && text[i + 1] === '"') i++
    value += text[i]
  }
  if (i >= text.length) throw new LineError('unterminated quote in options')
  return { value, end: i + 1 }
}

/** strtonum(3): optional space and sign, then decimal digits only, within [min, max]. */
function strtonum(text: string, min: number, max: number): number | undefined {
  if (!/^[ \t\n\v\f\r]*[+-]?[0-9]+$/.test(text)) return undefined
  const value = Number(text.trim())
  return value >= min && value <= max ? value : undefined
}

/** handle_permit: `host:port` (or `host/port`, `[v6]:port`), port `*` or 1-65535. */
function parsePermit(text: string, what: string): { host: string; port: number | '*' } {
  let end: number
  if (text.startsWith('[')) {
    end = text.indexOf(']') + 1
    if (end === 0) throw new LineError(`bad ${what} ${text}`)
  } else {
    end = text.search(/[:/]/)
    if (end === -1) end = text.length
  }
  const delimiter = text[end]
  const host = text.slice(0, end)
  if ((delimiter !== ':' && delimiter !== '/') || host.length > MAX_HOST_LENGTH) throw new LineError(`bad ${what} ${text}`)
  const portText = text.slice(end + 1)
  // OpenSSH also takes a service name from /etc/services here; korv refuses the line instead.
  const port = portText === '*' ? '*' : strtonum(portText, 1, 65_535)
  if (port === undefined) throw new LineError(`bad ${what} port ${portText}`)
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port }
}

// strptime's %Y %m %d %H %M %S ranges; seconds go to 61 and days to 31 in any month.
const TIME_FIELDS: readonly (readonly [width: number, min: number, max: number])[] = [
  [4, 0, 9999], [2, 1, 12], [2, 1, 31], [2, 0, 23], [2, 0, 59], [2, 0, 61],
]

/** glibc strptime's get_number over one fixed-width field, which it must use up. */
function timeField(text: string, min: number, max: number): number | undefined {
  let i = 0
  while (/[ \t\n\v\f\r]/.test(text[i] ?? '')) i++
  if (!/[0-9]/.test(text[i] ?? '')) return undefined
  let value = 0
  let digits = text.length
  do {
    value = value * 10 + Number(text[i++])
  } while (--digits > 0 && value * 10 <= max && /[0-9]/.test(text[i] ?? ''))
  return value < min || value > max || i !== text.length ? undefined : value
}

/**
 * parse_absolute_time: `YYYYMMDD[HHMM[SS]]`, UTC with a `Z` or `UTC` suffix, else local time read
 * as mktime reads it with `tm_isdst` 0 (standard time, even in summer). Epoch milliseconds.
 */
function parseExpiry(text: string): number {
  let length = text.length
  let utc = false
  if (length > 1 && asciiLower(text.slice(-1)) === 'z') {
    utc = true
    length -= 1
  } else if (length > 3 && asciiLower(text.slice(-3)) === 'utc') {
    utc = true
    length -= 3
  }
  const count = length === 8 ? 3 : length === 12 ? 5 : length === 14 ? 6 : 0
  const fields: number[] = []
  let at = 0
  for (const [width, min, max] of TIME_FIELDS.slice(0, count)) {
    const value = timeField(text.slice(at, at + width), min, max)
    if (value === undefined) break
    fields.push(value)
    at += width
  }
  if (count === 0 || fields.length !== count) throw new LineError(`bad expiry-time ${text}`)
  const [year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0] = fields
  // Date.UTC would read years below 100 as 19xx; sshd gets a time before the epoch for them.
  let time = year < 100 ? Number.NaN : Date.UTC(year, month - 1, day, hour, minute, second)
  if (!utc) {
    const standard = Math.max(new Date(year, 0, 1).getTimezoneOffset(), new Date(year, 6, 1).getTimezoneOffset())
    time += standard * 60_000
  }
  // sshd refuses times before the epoch, and the epoch itself (its "no expiry").
  if (!(time >= 1000)) throw new LineError(`bad expiry-time ${text}`)
  return time
}

interface Options {
  from: AddressList | undefined
  expiresAt: number | undefined
  portForwarding: boolean
  permitOpen: { host: string; port: number | '*' }[]
}

/** sshauthopt_parse over the options at the head of `line`, with korv's refusals. */
function parseOptions(line: string): Options {
  const options: Options = { from: undefined, expiresAt: undefined, portForwarding: true, permitOpen: [] }
  let command = false
  let permitListen = 0
  const environment = new Set<string>()
  let i = 0
  while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
    // opt_flag compares a prefix only: `ptyx` is `pty`, then a character where a comma should be.
    const flagAt = (negatable: boolean): number => (negatable && asciiLower(line.slice(i, i + 3)) === 'no-' ? i + 3 : i)
    const flag = FLAGS.find(([name, negatable]) => asciiLower(line.slice(flagAt(negatable), flagAt(negatable) + name.length)) === name)
    const valueName = flag === undefined
      ? VALUE_OPTIONS.find((name) => asciiLower(line.slice(i, i + name.length)) === name && line[i + name.length] === '=')
      : undefined
    if (flag !== undefined) {
      const [name, negatable] = flag
      const negated = flagAt(negatable) !== i
      i = flagAt(negatable) + name.length
      if (name === 'restrict') options.portForwarding = false
      else if (name === 'port-forwarding') options.portForwarding = !negated
      else if (name === 'cert-authority') throw new LineError('cert-authority keys are not supported')
      else if (name === 'touch-required' || name === 'verify-required') throw new LineError(`unsupported option ${name}`)
    } else if (valueName !== undefined) {
      const { value, end } = dequote(line, i + valueName.length + 1)
      i = end
      switch (valueName) {
        case 'command':
          if (command) throw new LineError('multiple "command" clauses')
          command = true
          break
        case 'principals':
          throw new LineError('principals apply to certificates, which are not supported')
        case 'from': {
          if (options.from !== undefined) throw new LineError('multiple "from" clauses')
          const list = parseAddressList(value)
          if (typeof list === 'string') throw new LineError(`bad from="${value}": ${list}`)
          options.from = list
          break
        }
        case 'expiry-time': {
          const expiresAt = parseExpiry(value)
          options.expiresAt = Math.min(expiresAt, options.expiresAt ?? expiresAt)
          break
        }
        case 'environment': {
          if (environment.size > MAX_ENVIRONMENT) throw new LineError('too many environment strings')
          const eq = value.indexOf('=')
          if (eq === -1 || !/^[A-Za-z0-9_]+$/.test(value.slice(0, eq))) throw new LineError(`bad environment ${value}`)
          environment.add(value.slice(0, eq))
          break
        }
        case 'permitopen':
          if (options.permitOpen.length > MAX_PERMITS) throw new LineError('too many permitopen directives')
          options.permitOpen.push(parsePermit(value, 'permitopen'))
          break
        case 'permitlisten':
          if (permitListen++ > MAX_PERMITS) throw new LineError('too many permitlisten directives')
          parsePermit(value.includes(':') ? value : `*:${value}`, 'permitlisten')
          break
        default:
          if (asciiLower(value) !== 'any' && strtonum(value, 0, MAX_TUNNEL) === undefined) throw new LineError(`bad tunnel ${value}`)
      }
    }
    if (i >= line.length || line[i] === ' ' || line[i] === '\t') break
    // Anything else where a comma should be is an option sshd does not know.
    if (line[i] !== ',') throw new LineError(`unknown option ${/^[^, \t]*/.exec(line.slice(i))?.[0] ?? ''}`)
    i++
    if (i >= line.length) throw new LineError('unexpected end of options')
  }
  return options
}

function parseLine(line: string, number: number): AuthorizedKey {
  const first = /^[^ \t]*/.exec(line)?.[0] ?? ''
  let options: Options = { from: undefined, expiresAt: undefined, portForwarding: true, permitOpen: [] }
  let rest = line
  if (!KNOWN_KEY_TYPES.has(first)) {
    rest = line.slice(optionsEnd(line)).replace(/^[ \t]+/, '')
    options = parseOptions(line)
  }
  const [type = '', base64 = ''] = rest.split(/[ \t]+/)
  const parsed = parsePublicKey(type, base64)
  if (typeof parsed === 'string') throw new LineError(parsed)
  return { line: number, type, blob: parsed.blob, key: parsed.key, fingerprint: fingerprint(parsed.blob), ...options }
}

/**
 * Every usable line of an OpenSSH authorized_keys file. A line korv cannot honour in full is
 * skipped and reported through `onError`, failing closed as OpenSSH does.
 */
export function parseAuthorizedKeys(text: string, onError: (err: KorvBadKeyLineError) => void): AuthorizedKey[] {
  const keys: AuthorizedKey[] = []
  text.split('\n').forEach((raw, index) => {
    // sshd skips leading blanks and tabs; a CR ends up in the comment, or here, nowhere.
    const line = raw.replace(/\r$/, '').replace(/^[ \t]+/, '')
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

/**
 * Whether the line's `expiry-time` and `from` let this peer in at `now` (epoch milliseconds), as
 * sshd's auth_authorise_keyopts decides. `address` is the connection's remote address (a PROXY
 * protocol header's, behind a balancer), IPv4 or IPv6 text.
 */
export function admits(entry: AuthorizedKey, address: string, now: number): boolean {
  // sshd compares whole seconds: the expiry second itself still lets the key in.
  if (entry.expiresAt !== undefined && Math.floor(now / 1000) * 1000 > entry.expiresAt) return false
  return entry.from === undefined || matchAddressList(entry.from, address)
}

/**
 * Whether a `direct-tcpip` open to `host`:`port` is allowed by the line. Hosts compare exactly, as
 * sshd's open_match does: `permitopen="localhost:80"` does not let `LOCALHOST` through.
 */
export function permitsOpen(entry: AuthorizedKey, host: string, port: number): boolean {
  if (!entry.portForwarding) return false
  if (entry.permitOpen.length === 0) return true
  return entry.permitOpen.some((p) => (p.host === '*' || p.host === host) && (p.port === '*' || p.port === port))
}
