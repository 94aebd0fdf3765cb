import { Buffer } from 'node:buffer'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { BlockList, isIP } from 'node:net'

/** OpenSSH's `*` and `?` wildcards, case-insensitive, over the whole string. */
export function globToRegExp(pattern: string): RegExp {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${source}$`, 'is')
}

/** An IPv4-mapped IPv6 address counts as the IPv4 address it carries. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  return mapped?.[1] ?? address
}

export interface AddressPattern {
  readonly negated: boolean
  matches(address: string): boolean
}

/**
 * One entry of a `from="…"` list: a wildcard pattern or a CIDR block, `!` to deny. Returns
 * undefined for a CIDR block that does not parse, which OpenSSH treats as a failure too.
 */
export function parseAddressPattern(entry: string): AddressPattern | undefined {
  const negated = entry.startsWith('!')
  const pattern = negated ? entry.slice(1) : entry
  if (pattern.length === 0) return undefined
  const slash = pattern.indexOf('/')
  if (slash === -1) {
    const re = globToRegExp(pattern)
    return { negated, matches: (address) => re.test(address) }
  }
  const network = normalizeAddress(pattern.slice(0, slash))
  const bitsText = pattern.slice(slash + 1)
  const family = isIP(network)
  const bits = Number(bitsText)
  if (family === 0 || !/^\d{1,3}$/.test(bitsText) || bits > (family === 4 ? 32 : 128)) return undefined
  const type = family === 4 ? 'ipv4' : 'ipv6'
  const block = new BlockList()
  block.addSubnet(network, bits, type)
  return {
    negated,
    matches: (address) => isIP(address) === family && block.check(address, type),
  }
}

/** OpenSSH's `from=` rule: a `!` match refuses, else any plain match allows; no DNS names. */
export function matchAddressList(address: string, patterns: readonly AddressPattern[]): boolean {
  const ip = normalizeAddress(address)
  let allowed = false
  for (const pattern of patterns) {
    if (!pattern.matches(ip)) continue
    if (pattern.negated) return false
    allowed = true
  }
  return allowed
}

/**
 * A known_hosts host field: a comma list of wildcard patterns with `!`, or one hashed `|1|salt|hash`
 * name. True when the name matches and no negated pattern does.
 */
export function matchHostField(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|')
    if (salt === undefined || hash === undefined) return false
    const expected = Buffer.from(hash, 'base64')
    const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest()
    return expected.length === actual.length && timingSafeEqual(expected, actual)
  }
  let matched = false
  for (const entry of field.split(',')) {
    const negated = entry.startsWith('!')
    const pattern = negated ? entry.slice(1) : entry
    if (pattern.length === 0 || !globToRegExp(pattern).test(name)) continue
    if (negated) return false
    matched = true
  }
  return matched
}
