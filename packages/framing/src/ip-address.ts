// IP addresses between their text and their bytes, strictly, and written as Node reports a peer.
import { Buffer } from 'node:buffer'

// Decimal 0–255 without a leading zero, which a reader could take for octal.
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`)
const GROUP = /^[0-9a-fA-F]{1,4}$/

/** Whether `text` is a dotted IPv4 address with no leading zeros, which makes it the only form of its bytes. */
export function isIPv4(text: string): boolean {
  return IPV4.test(text)
}

/** The 4 bytes of a dotted IPv4 address, or `undefined` unless `isIPv4(text)`. */
export function ipv4Bytes(text: string): Buffer | undefined {
  if (!IPV4.test(text)) return undefined
  return Buffer.from(text.split('.').map(Number))
}

/** The 4 bytes at `at` as a dotted IPv4 address. */
export function ipv4Text(buf: Uint8Array, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`
}

/**
 * The 16 bytes of an IPv6 address, or `undefined` when `text` is not one: groups of 1 to 4 hex
 * digits, at most one `::`, an optional dotted IPv4 tail, 128 bits exactly, no zone.
 */
export function ipv6Bytes(text: string): Buffer | undefined {
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const [head = '', tail] = halves
  const front = words(head, tail === undefined)
  const back = tail === undefined ? [] : words(tail, true)
  if (front === undefined || back === undefined) return undefined
  const count = front.length + back.length
  // `::` stands for at least one zero group.
  if (tail === undefined ? count !== 8 : count > 7) return undefined
  const out = Buffer.alloc(16)
  front.forEach((word, i) => out.writeUInt16BE(word, i * 2))
  back.forEach((word, i) => out.writeUInt16BE(word, 16 - (back.length - i) * 2))
  return out
}

/** The 16-bit groups of one side of `::`; an empty side has none. */
function words(side: string, dottedTail: boolean): number[] | undefined {
  if (side === '') return []
  const parts = side.split(':')
  const out: number[] = []
  for (const [i, part] of parts.entries()) {
    if (dottedTail && i === parts.length - 1 && part.includes('.')) {
      const v4 = ipv4Bytes(part)
      if (v4 === undefined) return undefined
      out.push(v4.readUInt16BE(0), v4.readUInt16BE(2))
    } else if (GROUP.test(part)) {
      out.push(parseInt(part, 16))
    } else {
      return undefined
    }
  }
  return out
}

/**
 * The 16 bytes at `at` as text, the way libuv writes them and so the way Node reports a peer:
 * lower-case groups without leading zeros, the longest run of two or more zero groups (the first
 * of equals) as `::`, and a dotted tail for IPv4-compatible and IPv4-mapped addresses.
 */
export function ipv6Text(buf: Uint8Array, at: number): string {
  const groups: number[] = []
  for (let i = 0; i < 8; i++) groups.push(((buf[at + i * 2] ?? 0) << 8) | (buf[at + i * 2 + 1] ?? 0))
  let base = -1
  let length = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let end = i
    while (end < 8 && groups[end] === 0) end++
    if (end - i > length) {
      base = i
      length = end - i
    }
    i = end
  }
  if (length < 2) return groups.map((g) => g.toString(16)).join(':')
  if (base === 0 && (length === 6 || (length === 5 && groups[5] === 0xffff))) {
    return `::${length === 5 ? 'ffff:' : ''}${ipv4Text(buf, at + 12)}`
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':')
  return `${hex(0, base)}::${hex(base + length, 8)}`
}
