// OpenSSH's `from="…"` address lists: addrmatch.c's CIDR entries and match.c's wildcards, no DNS.
import { isIPv6 } from 'node:net'

interface Address {
  readonly v6: boolean
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array
}

interface Entry {
  readonly negated: boolean
  /** The entry without its `!`, as written. */
  readonly pattern: string
  /** Set when the entry reads as an address or CIDR block; wildcards still apply to it too. */
  readonly network: { readonly address: Address; readonly bits: number } | undefined
}

/** A checked `from=` list. */
export interface AddressList {
  readonly entries: readonly Entry[]
}

// addr_pton_cidr copies an entry into a 64-byte buffer and gives up on longer ones.
const MAX_CIDR_LENGTH = 63
// match_pattern_list copies each entry into 1024 bytes; a longer one ends the list as "no match".
const MAX_WILDCARD_LENGTH = 1022

/**
 * An IPv4 address as glibc's getaddrinfo(AI_NUMERICHOST) reads it (inet_aton): one to four parts,
 * each decimal, `0` octal or `0x` hex, the last filling the bytes left.
 */
function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.')
  if (parts.length > 4) return undefined
  const values: number[] = []
  for (const part of parts) {
    const m = /^(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))$/.exec(part)
    if (m === null) return undefined
    const value = m[1] !== undefined ? parseInt(m[1], 16) : m[2] !== undefined ? parseInt(m[2], 8) : Number(m[3])
    if (value > 0xffff_ffff) return undefined
    values.push(value)
  }
  let last = values.pop() ?? 0
  if (values.some((v) => v > 0xff) || last >= 2 ** (8 * (4 - values.length))) return undefined
  const bytes = new Uint8Array(4)
  bytes.set(values)
  for (let i = 3; i >= values.length; i--) {
    bytes[i] = last % 256
    last = Math.floor(last / 256)
  }
  return bytes
}

/** inet_pton's IPv6 forms; a `%zone` is left to wildcard matching. */
function parseIPv6(text: string): Uint8Array | undefined {
  if (text.includes('%') || !isIPv6(text)) return undefined
  const groups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)]
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number)
          return [a * 256 + b, c * 256 + d]
        })
  const [head = '', tail] = text.split('::')
  const front = groups(head)
  const back = tail === undefined ? [] : groups(tail)
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back]
  const bytes = new Uint8Array(16)
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8
    bytes[2 * i + 1] = group & 0xff
  })
  return bytes
}

function parseAddress(text: string): Address | undefined {
  const v4 = parseIPv4(text)
  if (v4 !== undefined) return { v6: false, bytes: v4 }
  const v6 = parseIPv6(text)
  return v6 === undefined ? undefined : { v6: true, bytes: v6 }
}

/** Whether the first `bits` bits of `a` and `b` agree. */
function prefixEqual(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let bit = 0; bit < bits; bit += 8) {
    const mask = bits - bit >= 8 ? 0xff : (0xff << (8 - (bits - bit))) & 0xff
    if (((a[bit / 8] ?? 0) & mask) !== ((b[bit / 8] ?? 0) & mask)) return false
  }
  return true
}

function hostBitsZero(address: Address, bits: number): boolean {
  return address.bytes.every((byte, i) => {
    const kept = Math.max(0, Math.min(8, bits - i * 8))
    return (byte & (0xff >> kept)) === 0
  })
}

/**
 * addr_pton_cidr: a network, `undefined` when the entry is not an address (it is then a wildcard
 * only), or a reason when it is one with a mask that does not fit (OpenSSH refuses the whole list).
 */
function parseNetwork(entry: string): Entry['network'] | string {
  if (entry.length > MAX_CIDR_LENGTH) return undefined
  const slash = entry.indexOf('/')
  const mask = slash === -1 ? undefined : entry.slice(slash + 1)
  if (mask !== undefined && (!/^[0-9]+$/.test(mask) || Number(mask) > 128)) return undefined
  const address = parseAddress(slash === -1 ? entry : entry.slice(0, slash))
  if (address === undefined) return undefined
  const bits = mask === undefined ? address.bytes.length * 8 : Number(mask)
  if (bits > address.bytes.length * 8 || !hostBitsZero(address, bits)) {
    return `inconsistent mask length for network "${entry}"`
  }
  return { address, bits }
}

/**
 * Checks a `from=` list as sshd reads it. An empty entry, or a CIDR block whose mask is too long or
 * leaves host bits set (`127.0.0.1/8`), makes OpenSSH refuse every peer: the reason is returned.
 */
export function parseAddressList(list: string): AddressList | string {
  const entries: Entry[] = []
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!')
    const pattern = negated ? raw.slice(1) : raw
    if (pattern === '') return 'empty entry in from= list'
    const network = parseNetwork(pattern)
    if (typeof network === 'string') return network
    entries.push({ negated, pattern, network })
  }
  return { entries }
}

/** match.c's match_pattern: `*` any run, `?` any one character, all else literal. */
function matchPattern(text: string, pattern: string): boolean {
  let t = 0
  let p = 0
  let star = -1
  let resume = 0
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      t++
      p++
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++
      resume = t
    } else if (star !== -1) {
      p = star + 1
      t = ++resume
    } else {
      return false
    }
  }
  while (pattern[p] === '*') p++
  return p === pattern.length
}

const asciiLower = (text: string): string => text.replace(/[A-Z]/g, (c) => c.toLowerCase())

/**
 * match_host_and_ip with sshd's `UseDNS no` (the host name is the address text): the peer is let in
 * when no negated entry matches and a plain one does, as an address in a block or as a wildcard.
 * An IPv4-mapped IPv6 peer counts as its IPv4 address, as sshd normalises it.
 */
export function matchAddressList(list: AddressList, peer: string): boolean {
  let address = parseAddress(peer)
  let text = peer
  if (address?.v6 === true && address.bytes.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff))) {
    address = { v6: false, bytes: address.bytes.slice(12) }
    text = address.bytes.join('.')
  }
  let matched = false
  // addr_match_list: addresses by block, other entries by case-sensitive wildcard.
  if (address !== undefined) {
    for (const entry of list.entries) {
      const { network } = entry
      const hit =
        network === undefined
          ? matchPattern(text, entry.pattern)
          : network.address.v6 === address.v6 && prefixEqual(address.bytes, network.address.bytes, network.bits)
      if (!hit) continue
      if (entry.negated) return false
      matched = true
    }
  }
  // match_hostname: every entry as a wildcard, both sides lowercased.
  const host = asciiLower(text)
  let hostMatched = false
  for (const entry of list.entries) {
    if (entry.pattern.length > MAX_WILDCARD_LENGTH) {
      hostMatched = false
      break
    }
    if (!matchPattern(host, asciiLower(entry.pattern))) continue
    if (entry.negated) return false
    hostMatched = true
  }
  return matched || hostMatched
}
