import { Buffer } from 'node:buffer'
import { UsageError } from '@proto/framing'
import {
  KarpBadBase64Error,
  KarpBadFrameError,
  KarpFrameTooLargeError,
  KarpInvalidRouteError,
  KarpLengthMismatchError,
} from './errors.ts'

/** What a request or response carries: bytes, or a string sent as UTF-8. */
export type KarpPayload = Uint8Array | string

/** The fields of a request before its data. */
export interface KarpRequestHeader {
  readonly type: 'request'
  /** Lowercased. */
  readonly route: string
  /** 16 ASCII digits. */
  readonly id: string
  /** `false` for a notification: no reply is sent. */
  readonly wantsReply: boolean
}

/** The fields of a response before its data. */
export interface KarpResponseHeader {
  readonly type: 'response'
  readonly id: string
  /** `false`: the data is a UTF-8 error message. */
  readonly success: boolean
}

export type KarpFrameHeader = KarpRequestHeader | KarpResponseHeader
export type KarpRequestFrame = KarpRequestHeader & { readonly data: Uint8Array }
export type KarpResponseFrame = KarpResponseHeader & { readonly data: Uint8Array }
/** One decoded line. */
export type KarpFrame = KarpRequestFrame | KarpResponseFrame

/** Options of the encoders. */
export interface EncodeOptions {
  /** Largest frame produced, LF included. @default Number.MAX_SAFE_INTEGER */
  maxFrameBytes?: number
}

const HEAD = 'KARP_HEAD'
const C_LEN = 'C_LEN'
const DATA = 'KARP_DATA'
const END = 'KARP_END'
const END_BYTES = Buffer.from(END, 'latin1')
// Fixed bytes around the variable fields: KARP_HEAD, type and flag, the id, C_LEN, KARP_DATA,
// KARP_END and LF.
const FIXED_BYTES = HEAD.length + 2 + 16 + C_LEN.length + DATA.length + END.length + 1

const DIGIT_0 = 0x30
const DIGIT_1 = 0x31
const DIGIT_9 = 0x39
// The original's received route class is [A-z]+: 'A'..'z', which also admits [ \ ] ^ _ and `.
const ROUTE_FIRST = 0x41
const ROUTE_LAST = 0x7a

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
  const route = normalizeRoute(f.route)
  const bytes = payloadBytes(f.data)
  checkFrame(f.id, route.length, bytes.length, options)
  const b64 = bytes.toString('base64')
  const flag = f.wantsReply ? '1' : '0'
  return Buffer.from(`${HEAD}${route}0${flag}${f.id}${C_LEN}${b64.length}${DATA}${b64}${END}\n`, 'latin1')
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
  const bytes = payloadBytes(f.data)
  checkFrame(f.id, 0, bytes.length, options)
  const b64 = bytes.toString('base64')
  const success = f.success ? '1' : '0'
  return Buffer.from(`${HEAD}1${success}${f.id}${C_LEN}${b64.length}${DATA}${b64}${END}\n`, 'latin1')
}

// The size is known from the payload length alone, so an oversized frame is refused before its
// base64 is built.
function checkFrame(id: string, routeLength: number, payloadLength: number, options?: EncodeOptions): void {
  if (!ID.test(id)) throw new UsageError(`request id must be 16 ASCII digits, got ${JSON.stringify(id)}`)
  const max = options?.maxFrameBytes
  if (max === undefined) return
  const b64Length = Math.ceil(payloadLength / 3) * 4
  const size = FIXED_BYTES + routeLength + String(b64Length).length + b64Length
  if (size > max) throw new KarpFrameTooLargeError(size, max)
}

function payloadBytes(data: KarpPayload): Buffer {
  return typeof data === 'string'
    ? Buffer.from(data, 'utf8')
    : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

/**
 * Parses one line (its LF may be left on: bytes after `KARP_END` are ignored, as by the original).
 * @throws {KarpBadFrameError} when the line is neither a request nor a response
 * @throws {KarpLengthMismatchError} when `C_LEN` is not the number of base64 characters (`id` set)
 * @throws {KarpBadBase64Error} when the data is not strict standard base64 (`id` set)
 */
export function decodeFrame(line: Uint8Array): KarpFrame {
  const buf = Buffer.isBuffer(line) ? line : Buffer.from(line.buffer, line.byteOffset, line.byteLength)
  let p = expectTag(buf, 0, HEAD)
  if (p < 0) throw new KarpBadFrameError('line does not start with KARP_HEAD')
  const first = buf[p] ?? -1
  let header: KarpFrameHeader
  if (first >= DIGIT_0 && first <= DIGIT_9) {
    if (first !== DIGIT_1) throw new KarpBadFrameError(`frame type ${String.fromCharCode(first)} is neither 0 nor 1`)
    const success = flagAt(buf, p + 1, 'success')
    const id = idAt(buf, p + 2)
    header = { type: 'response', id, success }
    p += 18
  } else if (first >= ROUTE_FIRST && first <= ROUTE_LAST) {
    const routeStart = p
    while (p < buf.length && (buf[p] ?? 0) >= ROUTE_FIRST && (buf[p] ?? 0) <= ROUTE_LAST) p++
    const route = buf.toString('latin1', routeStart, p).toLowerCase()
    if (buf[p] !== DIGIT_0) throw new KarpBadFrameError('request route is not followed by type 0')
    const wantsReply = flagAt(buf, p + 1, 'response-wanted')
    const id = idAt(buf, p + 2)
    header = { type: 'request', route, id, wantsReply }
    p += 18
  } else {
    throw new KarpBadFrameError('KARP_HEAD is followed by neither a type digit nor a route')
  }
  p = expectTag(buf, p, C_LEN)
  if (p < 0) throw new KarpBadFrameError('C_LEN does not follow the request id')
  const lengthStart = p
  while ((buf[p] ?? 0) >= DIGIT_0 && (buf[p] ?? 0) <= DIGIT_9) p++
  const lengthEnd = p
  if (lengthEnd === lengthStart) throw new KarpBadFrameError('C_LEN has no digits')
  const dataStart = expectTag(buf, p, DATA)
  if (dataStart < 0) throw new KarpBadFrameError('KARP_DATA does not follow the length')
  const dataEnd = buf.indexOf(END_BYTES, dataStart)
  if (dataEnd < 0) throw new KarpBadFrameError('the line has no KARP_END')
  const actual = dataEnd - dataStart
  const declared = declaredLength(buf, lengthStart, lengthEnd)
  if (declared !== actual) throw new KarpLengthMismatchError(header, declared, actual)
  const b64 = buf.toString('latin1', dataStart, dataEnd)
  // Buffer.from(s, 'base64') alone would take the URL-safe alphabet and skip junk.
  if (actual % 4 !== 0) {
    throw new KarpBadBase64Error(header, `base64 data of ${actual} characters is not a multiple of 4`)
  }
  if (!BASE64.test(b64)) {
    throw new KarpBadBase64Error(header, 'data holds characters outside standard base64 or misplaced padding')
  }
  const data = Buffer.from(b64, 'base64')
  return { ...header, data }
}

/** Position after `tag` when it is at `p`, else -1. */
function expectTag(buf: Buffer, p: number, tag: string): number {
  if (p + tag.length > buf.length) return -1
  for (let i = 0; i < tag.length; i++) {
    if (buf[p + i] !== tag.charCodeAt(i)) return -1
  }
  return p + tag.length
}

function flagAt(buf: Buffer, p: number, what: string): boolean {
  const c = buf[p]
  if (c === DIGIT_1) return true
  if (c === DIGIT_0) return false
  throw new KarpBadFrameError(`${what} flag is neither 0 nor 1`)
}

function idAt(buf: Buffer, p: number): string {
  if (p + 16 > buf.length) throw new KarpBadFrameError('request id is not 16 digits')
  for (let i = p; i < p + 16; i++) {
    const c = buf[i] ?? 0
    if (c < DIGIT_0 || c > DIGIT_9) throw new KarpBadFrameError('request id is not 16 digits')
  }
  return buf.toString('latin1', p, p + 16)
}

/** `C_LEN`'s value, leading zeros allowed; `Infinity` past 15 significant digits, which no line can hold. */
function declaredLength(buf: Buffer, start: number, end: number): number {
  let p = start
  while (p < end - 1 && buf[p] === DIGIT_0) p++
  if (end - p > 15) return Number.POSITIVE_INFINITY
  return Number(buf.toString('latin1', p, end))
}
