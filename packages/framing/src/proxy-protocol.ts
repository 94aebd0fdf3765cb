// The PROXY protocol header, versions 1 and 2: an incremental decoder and an encoder, without I/O.
import { Buffer } from 'node:buffer'
import { DEFAULT_MAX_PROXY_HEADER_BYTES } from './constants.ts'
import { ProxyHeaderError, UsageError } from './errors.ts'
import { ipv4Bytes, ipv4Text, ipv6Bytes, ipv6Text, isIPv4 } from './ip-address.ts'
import { checkLimit } from './options.ts'
import type { PeerInfo } from './peer-info.ts'
import { toBuffer } from './to-buffer.ts'

/** Which header versions a receiver accepts; `'any'` tells them apart by their first byte. */
export type ProxyProtocolMode = 'v1' | 'v2' | 'any'

/** What a PROXY protocol header says about the connection it opens. */
export interface ProxyHeader {
  /** 1 for the text line, 2 for the binary block. */
  version: 1 | 2
  /**
   * `'proxy'` relays a client's connection; `'local'` (v2 only) is the balancer's own, a health
   * check, and carries no addresses: the socket's own peer stands.
   */
  command: 'proxy' | 'local'
  /**
   * The relayed transport. `'unknown'` (v1 `UNKNOWN`, v2 `UNSPEC`, and every LOCAL header) carries
   * no addresses; a receiver uses the socket's own.
   */
  transport: 'tcp' | 'udp' | 'unix' | 'unknown'
  /** The client as the balancer saw it. A path and port 0 for `'unix'`; absent for `'unknown'`. */
  source?: PeerInfo | undefined
  /** The address the client connected to, in the same form as `source`. */
  destination?: PeerInfo | undefined
}

/** Options of `ProxyHeaderDecoder`. */
export interface ProxyHeaderDecoderInit {
  /** Which versions to accept. @default 'any' */
  mode?: ProxyProtocolMode | undefined
  /**
   * Bytes the header may take, from 16 (v2's fixed part) up; a v1 line never takes more than 107.
   * @default 4096
   */
  maxBytes?: number | undefined
}

/** A decoded header and where the payload after it starts. */
export interface DecodedProxyHeader {
  /** What the header says. */
  header: ProxyHeader
  /** Bytes the header took, from the first byte pushed. */
  length: number
  /** Where the payload starts in the chunk that completed the header. */
  offset: number
}

/** A type-length-value field of a v2 header. */
export interface ProxyTlv {
  /** 0 to 255; the specification lists the types it assigns. */
  type: number
  /** Up to 65 535 bytes. */
  value: Uint8Array
}

/** Options of `encodeProxyHeader`. */
export interface EncodeProxyHeaderInit {
  /** TLVs written after the addresses of a v2 header. @default [] */
  tlvs?: readonly ProxyTlv[] | undefined
}

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')
const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
// The spec's worst case: "PROXY UNKNOWN", two full IPv6 addresses and two 5-digit ports, CRLF.
const V1_MAX_BYTES = 107
const V2_FIXED_BYTES = 16
const V2_VERSION = 0x2
const LOCAL = 0x0
const PROXY = 0x1
const AF_UNSPEC = 0x0
const AF_INET = 0x1
const AF_INET6 = 0x2
const AF_UNIX = 0x3
const UNSPEC = 0x0
const STREAM = 0x1
const DGRAM = 0x2
// Bytes of the source and destination addresses and ports, by family.
const ADDRESS_BYTES = [0, 12, 36, 216] as const
const UNIX_PATH_BYTES = 108
const CR = 0x0d
const LF = 0x0a
const EMPTY = Buffer.alloc(0)

interface Parsed {
  header: ProxyHeader
  length: number
}

const MODES: readonly ProxyProtocolMode[] = ['v1', 'v2', 'any']

/**
 * Reads one PROXY protocol header from the first bytes of a connection. Push chunks until `push`
 * returns the header; bytes are checked as they arrive, so a wrong first byte fails at once and
 * no more than `maxBytes` is ever held. A failed decoder keeps throwing its error.
 */
export class ProxyHeaderDecoder {
  readonly #mode: ProxyProtocolMode
  readonly #maxBytes: number
  // The start of a header split across chunks, copied out of them: at most maxBytes.
  #held: Buffer = EMPTY
  #length = 0
  #done = false
  #error: ProxyHeaderError | undefined

  constructor(init?: ProxyHeaderDecoderInit) {
    const mode = init?.mode ?? 'any'
    if (!MODES.includes(mode)) throw new UsageError(`mode must be 'v1', 'v2' or 'any', got ${String(mode)}`)
    this.#mode = mode
    this.#maxBytes = checkLimit('maxBytes', init?.maxBytes, DEFAULT_MAX_PROXY_HEADER_BYTES, V2_FIXED_BYTES)
  }

  /** Bytes of an unfinished header held from earlier chunks. */
  get buffered(): number {
    return this.#length
  }

  /**
   * The header, once `chunk` completes it; `undefined` while more bytes are needed.
   * @throws {ProxyHeaderError} when the bytes cannot start or be a valid header
   * @throws {UsageError} after a header was returned
   */
  push(chunk: Uint8Array): DecodedProxyHeader | undefined {
    if (this.#error !== undefined) throw this.#error
    if (this.#done) throw new UsageError('the PROXY header is already decoded')
    const buf = toBuffer(chunk)
    const before = this.#length
    // The usual case, a header whole in the first chunk, is read in place.
    const view = before === 0 ? buf : this.#keep(buf)
    let parsed: Parsed | undefined
    try {
      parsed = parse(view, this.#mode, this.#maxBytes)
    } catch (err) {
      this.#held = EMPTY
      this.#length = 0
      throw (this.#error = err as ProxyHeaderError)
    }
    if (parsed === undefined) {
      if (before === 0) this.#keep(buf)
      return undefined
    }
    this.#done = true
    this.#held = EMPTY
    this.#length = 0
    return { header: parsed.header, length: parsed.length, offset: parsed.length - before }
  }

  /**
   * The input is finished.
   * @throws {ProxyHeaderError} unless a header was decoded
   */
  end(): void {
    if (this.#error !== undefined) throw this.#error
    if (this.#done) return
    const received = this.#length
    this.#held = EMPTY
    this.#length = 0
    throw (this.#error = new ProxyHeaderError(
      'closed',
      received === 0
        ? 'the connection ended before a PROXY header'
        : `the connection ended after ${received} bytes, inside the PROXY header`,
    ))
  }

  /** Appends as much of `buf` as the header may still take, and returns the held bytes. */
  #keep(buf: Buffer): Buffer {
    const count = Math.min(buf.length, this.#maxBytes - this.#length)
    const needed = this.#length + count
    if (needed > this.#held.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.#maxBytes, Math.max(needed, this.#held.length * 2, 128)))
      this.#held.copy(grown, 0, 0, this.#length)
      this.#held = grown
    }
    buf.copy(this.#held, this.#length, 0, count)
    this.#length = needed
    return this.#held.subarray(0, needed)
  }
}

const invalid = (message: string): ProxyHeaderError => new ProxyHeaderError('invalid', message)
const hexByte = (byte: number | undefined): string => `0x${(byte ?? 0).toString(16).padStart(2, '0')}`

/** The header in `buf`, `undefined` while `buf` is a valid start of one, or a throw. */
function parse(buf: Buffer, mode: ProxyProtocolMode, maxBytes: number): Parsed | undefined {
  if (buf.length === 0) return undefined
  const first = buf[0]
  if (first === SIGNATURE[0] && mode !== 'v1') return parseV2(buf, maxBytes)
  if (first === V1_PREFIX[0] && mode !== 'v2') return parseV1(buf, maxBytes)
  const v1 = `${hexByte(V1_PREFIX[0])} (v1)`
  const v2 = `${hexByte(SIGNATURE[0])} (v2)`
  const expected = mode === 'v1' ? v1 : mode === 'v2' ? v2 : `${v1} or ${v2}`
  throw invalid(`not a PROXY header: the first byte is ${hexByte(first)}, expected ${expected}`)
}

function parseV1(buf: Buffer, maxBytes: number): Parsed | undefined {
  const prefix = Math.min(buf.length, V1_PREFIX.length)
  for (let i = 1; i < prefix; i++) {
    if (buf[i] !== V1_PREFIX[i]) throw invalid(`not a PROXY v1 header: byte ${i} is ${hexByte(buf[i])}, expected ${hexByte(V1_PREFIX[i])}`)
  }
  const bound = Math.min(V1_MAX_BYTES, maxBytes)
  const end = Math.min(buf.length, bound)
  for (let i = V1_PREFIX.length; i < end; i++) {
    const byte = buf[i]
    if (byte === LF) throw invalid(`the PROXY v1 line has an LF without a CR at byte ${i}`)
    if (byte !== CR) continue
    if (i + 2 > bound) break
    if (i + 1 === buf.length) return undefined
    if (buf[i + 1] !== LF) throw invalid(`the PROXY v1 line has a CR without an LF at byte ${i}`)
    return { header: parseV1Fields(buf.toString('latin1', V1_PREFIX.length, i)), length: i + 2 }
  }
  if (buf.length < bound) return undefined
  if (bound < V1_MAX_BYTES) throw new ProxyHeaderError('too-large', `the PROXY v1 line has no CRLF within maxBytes (${maxBytes})`)
  throw invalid(`the PROXY v1 line has no CRLF within ${V1_MAX_BYTES} bytes`)
}

/** The fields after `PROXY `, CRLF excluded. */
function parseV1Fields(line: string): ProxyHeader {
  const fields = line.split(' ')
  const [protocol, source, destination, sourcePort, destinationPort] = fields
  // The spec has the receiver ignore whatever follows UNKNOWN before the CRLF.
  if (protocol === 'UNKNOWN') return { version: 1, command: 'proxy', transport: 'unknown' }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    throw invalid(`the PROXY v1 protocol is ${JSON.stringify(protocol)}, not TCP4, TCP6 or UNKNOWN`)
  }
  if (fields.length !== 5) {
    throw invalid(`a PROXY v1 ${protocol} line has ${fields.length - 1} fields after ${protocol}, not 4 separated by single spaces`)
  }
  return {
    version: 1,
    command: 'proxy',
    transport: 'tcp',
    source: { address: v1Address(protocol, 'source', source), port: v1Port('source', sourcePort) },
    destination: { address: v1Address(protocol, 'destination', destination), port: v1Port('destination', destinationPort) },
  }
}

function v1Address(protocol: 'TCP4' | 'TCP6', role: string, text = ''): string {
  if (protocol === 'TCP4') {
    if (isIPv4(text)) return text
  } else {
    const bytes = ipv6Bytes(text)
    if (bytes !== undefined) return ipv6Text(bytes, 0)
  }
  throw invalid(`the PROXY v1 ${role} address ${JSON.stringify(text)} is not an ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'} address`)
}

function v1Port(role: string, text = ''): number {
  // Decimal 0–65535 with no leading zero, which a reader could take for octal.
  let port = text.length === 1 || (text.length > 1 && text[0] !== '0') ? 0 : -1
  for (let i = 0; port >= 0 && i < text.length; i++) {
    const digit = text.charCodeAt(i) - 0x30
    port = digit >= 0 && digit <= 9 ? port * 10 + digit : -1
  }
  if (port >= 0 && port <= 0xffff) return port
  throw invalid(`the PROXY v1 ${role} port ${JSON.stringify(text)} is not a number from 0 to 65535 without leading zeros`)
}

function parseV2(buf: Buffer, maxBytes: number): Parsed | undefined {
  const signature = Math.min(buf.length, SIGNATURE.length)
  for (let i = 1; i < signature; i++) {
    if (buf[i] !== SIGNATURE[i]) throw invalid(`not a PROXY v2 signature: byte ${i} is ${hexByte(buf[i])}, expected ${hexByte(SIGNATURE[i])}`)
  }
  const versionCommand = buf[12]
  if (versionCommand === undefined) return undefined
  if (versionCommand >> 4 !== V2_VERSION) throw invalid(`the PROXY v2 version is ${versionCommand >> 4}, not 2`)
  const command = versionCommand & 0x0f
  if (command !== LOCAL && command !== PROXY) throw invalid(`the PROXY v2 command is ${command}, neither LOCAL (0) nor PROXY (1)`)
  const familyTransport = buf[13]
  if (familyTransport === undefined) return undefined
  const family = familyTransport >> 4
  const transport = familyTransport & 0x0f
  // A LOCAL header's family is ignored, as the spec says: the socket's own addresses stand.
  if (command === PROXY) {
    if (family > AF_UNIX) throw invalid(`the PROXY v2 address family is ${family}, not one of 0 to 3`)
    if (transport > DGRAM) throw invalid(`the PROXY v2 transport is ${transport}, not one of 0 to 2`)
  }
  if (buf.length < V2_FIXED_BYTES) return undefined
  const length = V2_FIXED_BYTES + buf.readUInt16BE(14)
  if (length > maxBytes) throw new ProxyHeaderError('too-large', `the PROXY v2 header takes ${length} bytes, over maxBytes (${maxBytes})`)
  if (buf.length < length) return undefined
  if (command === LOCAL) return { header: { version: 2, command: 'local', transport: 'unknown' }, length }
  // UNSPEC addresses are ignored, and with them whatever the block holds.
  if (family === AF_UNSPEC || transport === UNSPEC) return { header: { version: 2, command: 'proxy', transport: 'unknown' }, length }
  const addressBytes = ADDRESS_BYTES[family] ?? 0
  const end = V2_FIXED_BYTES + addressBytes
  if (end > length) {
    throw invalid(`the PROXY v2 address block has ${length - V2_FIXED_BYTES} bytes, fewer than the ${addressBytes} of its family`)
  }
  checkTlvs(buf, end, length)
  return { header: v2Addresses(buf, family, transport), length }
}

/** Walks the TLVs between the addresses and the end of the header, which none may pass. */
function checkTlvs(buf: Buffer, at: number, end: number): void {
  while (at < end) {
    if (end - at < 3) throw invalid(`a PROXY v2 TLV at byte ${at} is cut off: ${end - at} of its 3 head bytes are in the header`)
    const next = at + 3 + buf.readUInt16BE(at + 1)
    if (next > end) throw invalid(`the PROXY v2 TLV of type ${hexByte(buf[at])} at byte ${at} runs ${next - end} bytes past the header`)
    at = next
  }
}

function v2Addresses(buf: Buffer, family: number, transport: number): ProxyHeader {
  const at = V2_FIXED_BYTES
  if (family === AF_UNIX) {
    return {
      version: 2,
      command: 'proxy',
      transport: 'unix',
      source: { address: unixPath(buf, at), port: 0 },
      destination: { address: unixPath(buf, at + UNIX_PATH_BYTES), port: 0 },
    }
  }
  const size = family === AF_INET ? 4 : 16
  const text = family === AF_INET ? ipv4Text : ipv6Text
  const ports = at + 2 * size
  return {
    version: 2,
    command: 'proxy',
    transport: transport === STREAM ? 'tcp' : 'udp',
    source: { address: text(buf, at), port: buf.readUInt16BE(ports) },
    destination: { address: text(buf, at + size), port: buf.readUInt16BE(ports + 2) },
  }
}

/**
 * A `sun_path`: up to its first NUL, or, when it starts with one (a Linux abstract name), all of
 * it but the trailing NULs, written as Node writes such a name.
 */
function unixPath(buf: Buffer, at: number): string {
  const path = buf.subarray(at, at + UNIX_PATH_BYTES)
  if (path[0] !== 0) {
    const nul = path.indexOf(0)
    return path.toString('utf8', 0, nul === -1 ? UNIX_PATH_BYTES : nul)
  }
  let end = UNIX_PATH_BYTES
  while (end > 0 && path[end - 1] === 0) end--
  return path.toString('utf8', 0, end)
}

/**
 * The bytes of `header` in its `version`: a v1 line, or a v2 block with `init.tlvs` after the
 * addresses. Addresses are written in the form the decoder returns (IPv6 compressed), so
 * decoding the bytes gives `header` back with canonical addresses.
 * @throws {UsageError} when the header cannot be written in its version: a v1 LOCAL, UDP or UNIX
 *   header, addresses missing, of two families, or not addresses at all, a port out of range,
 *   a path over 108 bytes, TLVs on a v1 header, or a v2 block over 65 535 bytes
 */
export function encodeProxyHeader(header: ProxyHeader, init?: EncodeProxyHeaderInit): Buffer {
  const { version, command, transport, source, destination } = header
  const tlvs = init?.tlvs ?? []
  if (version !== 1 && version !== 2) throw new UsageError(`a PROXY header's version is 1 or 2, got ${String(version)}`)
  if (command !== 'proxy' && command !== 'local') {
    throw new UsageError(`a PROXY header's command is 'proxy' or 'local', got ${String(command)}`)
  }
  if (command === 'local' && transport !== 'unknown') throw new UsageError("a LOCAL PROXY header has transport 'unknown'")
  if (transport === 'unknown') {
    if (source !== undefined || destination !== undefined) throw new UsageError("a PROXY header with transport 'unknown' has no addresses")
  } else if (source === undefined || destination === undefined) {
    throw new UsageError(`a ${transport} PROXY header needs a source and a destination`)
  }
  if (version === 1) {
    if (command === 'local') throw new UsageError('PROXY v1 has no LOCAL command; send UNKNOWN')
    if (tlvs.length > 0) throw new UsageError('PROXY v1 has no TLVs')
    if (transport === 'unknown') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1')
    if (transport !== 'tcp') throw new UsageError(`PROXY v1 carries TCP only, not ${transport}`)
  }
  const block = addressBlock(transport, source, destination)
  if (version === 1) {
    const { family, sourceText, destinationText } = block
    const line = `PROXY TCP${family === AF_INET ? 4 : 6} ${sourceText} ${destinationText} ${source?.port} ${destination?.port}\r\n`
    return Buffer.from(line, 'latin1')
  }
  let length = block.bytes.length
  for (const tlv of tlvs) {
    if (!Number.isInteger(tlv.type) || tlv.type < 0 || tlv.type > 0xff) throw new UsageError(`a TLV type is a byte, got ${tlv.type}`)
    if (tlv.value.length > 0xffff) throw new UsageError(`a TLV value takes at most 65535 bytes, got ${tlv.value.length}`)
    length += 3 + tlv.value.length
  }
  if (length > 0xffff) throw new UsageError(`a PROXY v2 header holds at most 65535 bytes after its first 16, got ${length}`)
  const out = Buffer.allocUnsafe(V2_FIXED_BYTES + length)
  SIGNATURE.copy(out, 0)
  out[12] = (V2_VERSION << 4) | (command === 'local' ? LOCAL : PROXY)
  out[13] = (block.family << 4) | (transport === 'tcp' ? STREAM : transport === 'udp' ? DGRAM : transport === 'unix' ? STREAM : UNSPEC)
  out.writeUInt16BE(length, 14)
  let at = V2_FIXED_BYTES + block.bytes.copy(out, V2_FIXED_BYTES)
  for (const tlv of tlvs) {
    out[at] = tlv.type
    out.writeUInt16BE(tlv.value.length, at + 1)
    out.set(tlv.value, at + 3)
    at += 3 + tlv.value.length
  }
  return out
}

interface AddressBlock {
  family: number
  /** The v2 address block. */
  bytes: Buffer
  /** The addresses as a v1 line writes them. */
  sourceText: string
  destinationText: string
}

function addressBlock(transport: ProxyHeader['transport'], source?: PeerInfo, destination?: PeerInfo): AddressBlock {
  if (transport === 'unknown' || source === undefined || destination === undefined) {
    return { family: AF_UNSPEC, bytes: Buffer.alloc(0), sourceText: '', destinationText: '' }
  }
  if (transport === 'unix') {
    const bytes = Buffer.alloc(2 * UNIX_PATH_BYTES)
    for (const [i, peer] of [source, destination].entries()) {
      if (peer.port !== 0) throw new UsageError(`a UNIX address has port 0, got ${peer.port}`)
      const path = Buffer.from(peer.address, 'utf8')
      // Refused, as the decoder would not give them back: a NUL in a path, or ending an abstract name.
      const lost = path[0] === 0 ? path[path.length - 1] === 0 : path.includes(0)
      if (path.length > UNIX_PATH_BYTES || lost) {
        throw new UsageError(`${JSON.stringify(peer.address)} is not a UNIX path of at most 108 bytes that a PROXY header can carry`)
      }
      path.copy(bytes, i * UNIX_PATH_BYTES)
    }
    return { family: AF_UNIX, bytes, sourceText: source.address, destinationText: destination.address }
  }
  if (transport !== 'tcp' && transport !== 'udp') {
    throw new UsageError(`a PROXY header's transport is tcp, udp, unix or unknown, got ${String(transport)}`)
  }
  const v4 = [ipv4Bytes(source.address), ipv4Bytes(destination.address)]
  const v6 = [ipv6Bytes(source.address), ipv6Bytes(destination.address)]
  const family = v4[0] !== undefined && v4[1] !== undefined ? AF_INET : v6[0] !== undefined && v6[1] !== undefined ? AF_INET6 : undefined
  if (family === undefined) {
    throw new UsageError(`${JSON.stringify(source.address)} and ${JSON.stringify(destination.address)} are not two IPv4 or two IPv6 addresses`)
  }
  const [sourceBytes, destinationBytes] = family === AF_INET ? v4 : v6
  const size = family === AF_INET ? 4 : 16
  const bytes = Buffer.alloc(ADDRESS_BYTES[family])
  sourceBytes?.copy(bytes, 0)
  destinationBytes?.copy(bytes, size)
  for (const [i, { port }] of [source, destination].entries()) {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new UsageError(`a port is an integer from 0 to 65535, got ${port}`)
    bytes.writeUInt16BE(port, 2 * size + 2 * i)
  }
  const text = family === AF_INET ? ipv4Text : ipv6Text
  return { family, bytes, sourceText: text(bytes, 0), destinationText: text(bytes, size) }
}
