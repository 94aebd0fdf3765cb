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
  const bytes = payloadBytes(data)
  checkSize(route.length, bytes.length, maxFrameBytes)
  const b64 = bytes.toString('base64')
  return Buffer.from(`${HEAD}${route}0${wantsReply ? '1' : '0'}${id}${C_LEN}${b64.length}${DATA}${b64}${END}\n`, 'latin1')
}

/** `encodeResponse` for an id already valid. */
export function responseFrame(id: string, success: boolean, data: KarpPayload, maxFrameBytes: number): Buffer {
  const bytes = payloadBytes(data)
  checkSize(0, bytes.length, maxFrameBytes)
  const b64 = bytes.toString('base64')
  return Buffer.from(`${HEAD}1${success ? '1' : '0'}${id}${C_LEN}${b64.length}${DATA}${b64}${END}\n`, 'latin1')
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

function payloadBytes(data: KarpPayload): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

/**
 * Parses one line (its LF may be left on: bytes after `KARP_END` are ignored, as by the original).
 * @throws {KarpBadFrameError} when the line is neither a request nor a response
 * @throws {KarpLengthMismatchError} when `C_LEN` is not the number of base64 characters (`id` set)
 * @throws {KarpBadBase64Error} when the data is not strict standard base64 (`id` set)
 */
export function decodeFrame(line: Uint8Array): KarpFrame {
  const buf = Buffer.isBuffer(line) ? line : Buffer.from(line.buffer, line.byteOffset, line.byteLength)
  // One latin1 string of the line: a byte per character, so positions match the bytes, and bytes
  // from 0x80 up match nothing below. The base64 needs a string anyway.
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
