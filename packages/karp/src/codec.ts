// Pure encode and decode of KARP lines, no I/O.
import { Buffer } from 'node:buffer'
import { UsageError, toBuffer, toBytes } from '@proto/framing'
import {
  KarpBadBase64Error,
  KarpBadFrameError,
  KarpFrameTooLargeError,
  KarpInvalidRouteError,
  KarpLengthMismatchError,
} from './errors.ts'
import type { KarpFrame, KarpFrameHeader, KarpPayload } from './frame.ts'

/** Options of the encoders. */
export interface EncodeOptions {
  /** Largest frame produced, LF included. @default Number.MAX_SAFE_INTEGER */
  maxFrameBytes?: number | undefined
}

const HEAD = 'KARP_HEAD'
const C_LEN = 'C_LEN'
const DATA = 'KARP_DATA'
const END = 'KARP_END'
// Fixed bytes around the variable fields: KARP_HEAD, type and flag, the id, C_LEN, KARP_DATA,
// KARP_END and LF.
const FIXED_BYTES = HEAD.length + 2 + 16 + C_LEN.length + DATA.length + END.length + 1

const DIGIT_0 = 0x30
const DIGIT_9 = 0x39
// The original's received route class is [A-z]+: 'A'..'z', which also admits [ \ ] ^ _ and `.
const ROUTE_FIRST = 0x41
const ROUTE_LAST = 0x7a
const START = String.raw`^KARP_HEAD(?:([\x41-\x7a]+)0([01])|1([01]))`
/** Everything before the data: route, flag, success, id and C_LEN digits as groups 1 to 5. */
const HEADER = new RegExp(String.raw`${START}([0-9]{16})C_LEN([0-9]+)KARP_DATA`)
const REQUEST_START = /^KARP_HEAD[\x41-\x7a]+0[01]/
const RESPONSE_START = /^KARP_HEAD1[01]/
const WITH_ID = new RegExp(String.raw`${START}[0-9]{16}`)
const WITH_LENGTH = new RegExp(String.raw`${START}[0-9]{16}C_LEN[0-9]`)
const LEADING_ZEROS = /^0+/

const NO_LIMIT = Number.MAX_SAFE_INTEGER
const END_LF = Buffer.from(`${END}\n`, 'latin1')
const HEAD_BYTES = Buffer.from(HEAD, 'latin1')
const C_LEN_BYTES = Buffer.from(C_LEN, 'latin1')
const DATA_BYTES = Buffer.from(DATA, 'latin1')
const END_BYTES = Buffer.from(END, 'latin1')
const EQUALS = 0x3d
const INVALID = 0xff
const B64_CHARS = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1')
/** Each byte's base64 value, INVALID outside the standard alphabet (padding bits land in bytes not kept). */
const B64_VALUES = new Uint8Array(256).fill(INVALID)
for (const [value, char] of B64_CHARS.entries()) B64_VALUES[char] = value
// Up to this much data the base64 is made and read by hand in the frame's own buffer; beyond, the
// native codec is faster than the extra string costs.
const SMALL_DATA = 3072
const SMALL_B64 = (SMALL_DATA / 3) * 4
const ROUTE_SENT = /^[a-z_]+$/
const ID = /^[0-9]{16}$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * `route` lowercased, as it goes on the wire and into route tables.
 * @throws {KarpInvalidRouteError} unless it is then `[a-z_]+`
 */
export function normalizeRoute(route: string): string {
  const lower = route.toLowerCase()
  if (!ROUTE_SENT.test(lower)) throw new KarpInvalidRouteError(route)
  return lower
}

/**
 * A request frame, LF included. The route is lowercased.
 * @throws {KarpInvalidRouteError} for a route that is not `[a-z_]+` once lowercased
 * @throws {KarpFrameTooLargeError} when the frame would pass `maxFrameBytes`, before encoding it
 * @throws {UsageError} for an id that is not 16 ASCII digits
 */
export function encodeRequest(
  f: { route: string; id: string; data: KarpPayload; wantsReply: boolean },
  options?: EncodeOptions,
): Uint8Array {
  checkId(f.id)
  return requestFrame(normalizeRoute(f.route), f.id, f.data, f.wantsReply, options?.maxFrameBytes ?? NO_LIMIT)
}

/**
 * A response frame, LF included.
 * @throws {KarpFrameTooLargeError} when the frame would pass `maxFrameBytes`, before encoding it
 * @throws {UsageError} for an id that is not 16 ASCII digits
 */
export function encodeResponse(
  f: { id: string; success: boolean; data: KarpPayload },
  options?: EncodeOptions,
): Uint8Array {
  checkId(f.id)
  return responseFrame(f.id, f.success, f.data, options?.maxFrameBytes ?? NO_LIMIT)
}

/** `encodeRequest` for a route already normalized and an id already valid: the peers' hot path. */
export function requestFrame(route: string, id: string, data: KarpPayload, wantsReply: boolean, maxFrameBytes: number): Buffer {
  const bytes = toBytes(data)
  checkSize(route.length, bytes.length, maxFrameBytes)
  return writeFrame(route, wantsReply ? '01' : '00', id, bytes)
}

/** `encodeResponse` for an id already valid. */
export function responseFrame(id: string, success: boolean, data: KarpPayload, maxFrameBytes: number): Buffer {
  const bytes = toBytes(data)
  checkSize(0, bytes.length, maxFrameBytes)
  return writeFrame('', success ? '11' : '10', id, bytes)
}

/**
 * The frame's bytes written straight into one buffer: no string of the whole line, and for small
 * data no base64 string either, so a round trip leaves less garbage behind.
 */
function writeFrame(route: string, typeAndFlag: string, id: string, bytes: Buffer): Buffer {
  const b64Length = Math.ceil(bytes.length / 3) * 4
  const lengthText = String(b64Length)
  const out = Buffer.allocUnsafe(FIXED_BYTES + route.length + lengthText.length + b64Length)
  // One write for the header: each write is a call into native code.
  let at = out.write(`${HEAD}${route}${typeAndFlag}${id}${C_LEN}${lengthText}${DATA}`, 0, 'latin1')
  at += bytes.length <= SMALL_DATA ? encodeBase64(bytes, out, at) : out.write(bytes.toString('base64'), at, 'latin1')
  for (let i = 0; i < END_LF.length; i++) out[at + i] = END_LF[i] as number
  return out
}

function checkId(id: string): void {
  if (!ID.test(id)) throw new UsageError(`request id must be 16 ASCII digits, got ${JSON.stringify(id)}`)
}

// The size is known from the payload length alone, so an oversized frame is refused before its
// base64 is built.
function checkSize(routeLength: number, payloadLength: number, maxFrameBytes: number): void {
  const b64Length = Math.ceil(payloadLength / 3) * 4
  const size = FIXED_BYTES + routeLength + String(b64Length).length + b64Length
  if (size > maxFrameBytes) throw new KarpFrameTooLargeError(size, maxFrameBytes)
}

/**
 * Parses one line (its LF may be left on: bytes after `KARP_END` are ignored, as by the original).
 * @throws {KarpBadFrameError} when the line is neither a request nor a response
 * @throws {KarpLengthMismatchError} when `C_LEN` is not the number of base64 characters (`id` set)
 * @throws {KarpBadBase64Error} when the data is not strict standard base64 (`id` set)
 */
export function decodeFrame(line: Uint8Array): KarpFrame {
  const buf = toBuffer(line)
  // One latin1 string of the line: a byte per character, so positions match the bytes, and bytes
  // from 0x80 up match nothing below. The base64 needs a string anyway.
  const fast = decodeWellFormed(buf)
  if (fast !== undefined) return fast
  const text = buf.toString('latin1')
  const match = HEADER.exec(text)
  if (match === null) throw badFrame(text)
  const [head, route, wantsReply, success, id = '', length = ''] = match
  const dataStart = head.length
  const dataEnd = text.indexOf(END, dataStart)
  if (dataEnd < 0) throw new KarpBadFrameError('the line has no KARP_END')
  const actual = dataEnd - dataStart
  const declared = declaredLength(length)
  if (declared !== actual) throw new KarpLengthMismatchError(headerOf(route, wantsReply, success, id), declared, actual)
  const b64 = text.slice(dataStart, dataEnd)
  // Buffer.from(s, 'base64') alone would take the URL-safe alphabet and skip junk.
  if (actual % 4 !== 0) {
    const reason = `base64 data of ${actual} characters is not a multiple of 4`
    throw new KarpBadBase64Error(headerOf(route, wantsReply, success, id), reason)
  }
  if (!BASE64.test(b64)) {
    const reason = 'data holds characters outside standard base64 or misplaced padding'
    throw new KarpBadBase64Error(headerOf(route, wantsReply, success, id), reason)
  }
  const data = Buffer.from(b64, 'base64')
  return route === undefined
    ? { type: 'response', id, success: success === '1', data }
    : { type: 'request', route: route.toLowerCase(), id, wantsReply: wantsReply === '1', data }
}

/**
 * A frame with a valid header, a `C_LEN` that matches and strict base64 data, read straight from
 * the bytes; `undefined` for anything else, which `decodeFrame`'s checks then name. Base64 holds
 * no `_`, so no `KARP_END` can come before the one right after the data.
 */
function decodeWellFormed(buf: Buffer): KarpFrame | undefined {
  const length = buf.length
  if (length < FIXED_BYTES - 1 || !startsWith(buf, 0, HEAD_BYTES)) return undefined
  let at = HEAD_BYTES.length
  let routeEnd = at
  for (; routeEnd < length; routeEnd++) {
    const byte = buf[routeEnd] as number
    if (byte < ROUTE_FIRST || byte > ROUTE_LAST) break
  }
  const isRequest = routeEnd > at
  if (buf[routeEnd] !== (isRequest ? DIGIT_0 : DIGIT_0 + 1)) return undefined
  const flag = buf[routeEnd + 1]
  if (flag !== DIGIT_0 && flag !== DIGIT_0 + 1) return undefined
  const routeStart = at
  at = routeEnd + 2
  const idStart = at
  for (const idEnd = at + 16; at < idEnd; at++) {
    const byte = buf[at]
    if (byte === undefined || byte < DIGIT_0 || byte > DIGIT_9) return undefined
  }
  const idEnd = at
  if (!startsWith(buf, at, C_LEN_BYTES)) return undefined
  at += C_LEN_BYTES.length
  const digitsStart = at
  let declared = 0
  for (; at < length; at++) {
    const byte = buf[at] as number
    if (byte < DIGIT_0 || byte > DIGIT_9) break
    declared = declared * 10 + (byte - DIGIT_0)
  }
  // Longer digit runs, which only leading zeros or an impossible length make, take the general path.
  if (at === digitsStart || at - digitsStart > 15 || !startsWith(buf, at, DATA_BYTES)) return undefined
  const dataStart = at + DATA_BYTES.length
  const dataEnd = dataStart + declared
  if (declared % 4 !== 0 || !startsWith(buf, dataEnd, END_BYTES) || !isStrictBase64(buf, dataStart, dataEnd)) {
    return undefined
  }
  const id = buf.toString('latin1', idStart, idEnd)
  const data =
    declared <= SMALL_B64 ? decodeBase64(buf, dataStart, dataEnd) : Buffer.from(buf.toString('latin1', dataStart, dataEnd), 'base64')
  return isRequest
    ? { type: 'request', route: buf.toString('latin1', routeStart, routeEnd).toLowerCase(), id, wantsReply: flag === DIGIT_0 + 1, data }
    : { type: 'response', id, success: flag === DIGIT_0 + 1, data }
}

function startsWith(buf: Buffer, at: number, prefix: Buffer): boolean {
  if (at + prefix.length > buf.length) return false
  for (let i = 0; i < prefix.length; i++) if (buf[at + i] !== prefix[i]) return false
  return true
}

/** What BASE64 accepts: alphabet characters, then at most two `=` at the end. */
function isStrictBase64(buf: Buffer, start: number, end: number): boolean {
  let at = start
  for (; at < end; at++) if (B64_VALUES[buf[at] as number] === INVALID) break
  let pad = 0
  for (; at < end; at++, pad++) if (buf[at] !== EQUALS) return false
  return pad <= 2
}

/** Strict base64 of `buf[start, end)`, its length a multiple of 4, as `Buffer.from(…, 'base64')` decodes it. */
function decodeBase64(buf: Buffer, start: number, end: number): Buffer {
  let pad = 0
  if (end > start && buf[end - 1] === EQUALS) pad = buf[end - 2] === EQUALS ? 2 : 1
  const out = Buffer.allocUnsafe(((end - start) / 4) * 3 - pad)
  let o = 0
  for (let at = start; at < end; at += 4) {
    const word =
      ((B64_VALUES[buf[at] as number] as number) << 18) |
      ((B64_VALUES[buf[at + 1] as number] as number) << 12) |
      (((B64_VALUES[buf[at + 2] as number] as number) & 63) << 6) |
      ((B64_VALUES[buf[at + 3] as number] as number) & 63)
    out[o++] = word >>> 16
    if (o < out.length) out[o++] = (word >>> 8) & 0xff
    if (o < out.length) out[o++] = word & 0xff
  }
  return out
}

/** Standard base64 of `bytes` written at `out[at]`; returns the characters written. */
function encodeBase64(bytes: Buffer, out: Buffer, at: number): number {
  const start = at
  const whole = bytes.length - (bytes.length % 3)
  let i = 0
  for (; i < whole; i += 3) {
    const word = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number)
    out[at++] = B64_CHARS[word >>> 18] as number
    out[at++] = B64_CHARS[(word >>> 12) & 63] as number
    out[at++] = B64_CHARS[(word >>> 6) & 63] as number
    out[at++] = B64_CHARS[word & 63] as number
  }
  if (i < bytes.length) {
    const two = i + 1 < bytes.length
    const word = ((bytes[i] as number) << 16) | (two ? (bytes[i + 1] as number) << 8 : 0)
    out[at++] = B64_CHARS[word >>> 18] as number
    out[at++] = B64_CHARS[(word >>> 12) & 63] as number
    out[at++] = two ? (B64_CHARS[(word >>> 6) & 63] as number) : EQUALS
    out[at++] = EQUALS
  }
  return at - start
}

function headerOf(
  route: string | undefined,
  wantsReply: string | undefined,
  success: string | undefined,
  id: string,
): KarpFrameHeader {
  return route === undefined
    ? { type: 'response', id, success: success === '1' }
    : { type: 'request', route: route.toLowerCase(), id, wantsReply: wantsReply === '1' }
}

/** `C_LEN`'s value, leading zeros allowed; `Infinity` past 15 significant digits, which no line can hold. */
function declaredLength(digits: string): number {
  if (digits.length <= 15) return Number(digits)
  const significant = digits.replace(LEADING_ZEROS, '')
  return significant.length > 15 ? Number.POSITIVE_INFINITY : Number(significant)
}

/** Why `text` does not match HEADER, checked field by field. */
function badFrame(text: string): KarpBadFrameError {
  if (!text.startsWith(HEAD)) return new KarpBadFrameError('line does not start with KARP_HEAD')
  const kind = text.charCodeAt(HEAD.length)
  if (kind >= DIGIT_0 && kind <= DIGIT_9) {
    if (!RESPONSE_START.test(text)) return new KarpBadFrameError('a response must start KARP_HEAD1 and a success flag 0 or 1')
  } else if (kind >= ROUTE_FIRST && kind <= ROUTE_LAST) {
    if (!REQUEST_START.test(text)) {
      return new KarpBadFrameError('a request route ([A-z]+) must be followed by type 0 and a flag 0 or 1')
    }
  } else {
    return new KarpBadFrameError('KARP_HEAD is followed by neither a type digit nor a route')
  }
  if (!WITH_ID.test(text)) return new KarpBadFrameError('the request id is not 16 digits')
  if (!WITH_LENGTH.test(text)) return new KarpBadFrameError('C_LEN and its digits do not follow the request id')
  return new KarpBadFrameError('KARP_DATA does not follow the length')
}
