// korv's messages: JSON as the original writes it, gzip members, and the checks of requests and replies.
import { Buffer, isAscii } from 'node:buffer'
import { checkLimit, GzipMemberDecoder } from '@proto/framing'
import { DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_MESSAGE_BYTES, VERBS } from './constants.ts'
import type { KorvCompressionOptions, KorvLimits, KorvVerb } from './constants.ts'
import { checkCompression, gzipMember } from './deflate.ts'
import type { MessageEncoding } from './deflate.ts'
import { KorvBadMessageError, KorvUnserializableError } from './errors.ts'
import type { KorvRejection } from './errors.ts'

/** A request as a handler sees it: the checked fields and the whole object. */
export interface KorvRequest {
  readonly verb: KorvVerb
  readonly resource: string
  readonly body: unknown
  readonly id: unknown
  readonly request: Record<string, unknown>
}

/** A reply as a client sees it. */
export interface KorvResponse {
  readonly requestId: unknown
  readonly code: unknown
  readonly body: unknown
}

// Python's json.dumps (ensure_ascii) escapes every UTF-16 unit outside ' '..'~'; JSON.stringify
// has already escaped those below ' ' and the lone surrogates, which leaves 0x7F and up.
const NON_ASCII = /[\u007f-\uffff]/g
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function escapeUnit(unit: string): string {
  return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/**
 * JSON text as Python's `json.dumps(obj, separators=(',', ':'))` writes it: compact, keys in
 * insertion order, non-ASCII as lowercase `\uXXXX`. Throws `ERR_KORV_UNSERIALIZABLE` for what
 * JSON cannot hold (a BigInt, a cycle, a bare `undefined` or function).
 */
export function encodeJson(value: unknown): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (err) {
    throw new KorvUnserializableError(`not serialisable as JSON: ${(err as Error).message}`, { cause: err })
  }
  if (text === undefined) throw new KorvUnserializableError(`not serialisable as JSON: ${typeof value}`)
  // A UTF-8 length equal to the UTF-16 length means nothing from 0x80 up; both scans are cheaper
  // than the regular expression on a large text.
  const ascii = Buffer.byteLength(text, 'utf8') === text.length && !text.includes('\u007f')
  return ascii ? text : text.replace(NON_ASCII, escapeUnit)
}

/**
 * One gzip member holding `message` as JSON: the bytes of one `channel.write()`. Throws
 * `ERR_KORV_MESSAGE_TOO_LARGE` past `maxMessageBytes`, before anything is written, and
 * `ERR_PROTO_USAGE` for a bad limit or `compression`.
 */
export function encodeMessage(message: object, limits?: Partial<KorvLimits>, compression?: KorvCompressionOptions): Uint8Array {
  return encodeChecked(message, {
    maxMessageBytes: checkLimit('maxMessageBytes', limits?.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
    compression: checkCompression(compression),
  })
}

/** `encodeMessage` with settings checked beforehand, as a client or server holds them. */
export function encodeChecked(message: object, encoding: MessageEncoding): Buffer {
  // gzipMember takes ASCII text, and encodeJson writes nothing else.
  return gzipMember(encodeJson(message), encoding)
}

/** A decoder for the messages of one channel direction (framing's gzip member decoder, korv limits). */
export function createMessageDecoder(limits?: Partial<Pick<KorvLimits, 'maxMessageBytes' | 'maxJsonBytes'>>): GzipMemberDecoder {
  return new GzipMemberDecoder({
    maxCompressedBytes: checkLimit('maxMessageBytes', limits?.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
    maxFrameBytes: checkLimit('maxJsonBytes', limits?.maxJsonBytes, DEFAULT_MAX_JSON_BYTES),
  })
}

function rejection(requestId: unknown, message: string): KorvRejection {
  return { request_id: requestId, code: 400, body: { message } }
}

/** Strict UTF-8, BOM kept. Peers write ASCII (ensure_ascii), which decodes as a plain Latin-1 copy. */
function textOf(bytes: Uint8Array): string {
  if (!isAscii(bytes)) return utf8.decode(bytes)
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('latin1')
}

/** Strict UTF-8 (no BOM) and RFC 8259 JSON; Python's `NaN` and friends are refused. */
export function decodeJson(json: Uint8Array | string): unknown {
  try {
    return JSON.parse(typeof json === 'string' ? json : textOf(json)) as unknown
  } catch (err) {
    throw new KorvBadMessageError('not UTF-8 JSON', {
      cause: err,
      reply: rejection(0, 'Unable to process request'),
    })
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const has = (object: object, key: string): boolean => Object.hasOwn(object, key)

export function isVerb(value: unknown): value is KorvVerb {
  return typeof value === 'string' && (VERBS as readonly string[]).includes(value)
}

/**
 * The server's checks of spec §1.5, rows 1 and 3 to 7, in order. A failure throws
 * `ERR_KORV_BAD_MESSAGE` whose `reply` is the 400 to send.
 */
export function parseRequest(json: Uint8Array | string): KorvRequest {
  const request = decodeJson(json)
  if (!isRecord(request) || !has(request, 'id')) {
    throw new KorvBadMessageError("request has no 'id'", { reply: rejection(0, "Missing 'id'") })
  }
  const id = request.id
  const fail = (message: string, bodyMessage: string): never => {
    throw new KorvBadMessageError(message, { reply: rejection(id, bodyMessage) })
  }
  if (!has(request, 'verb')) fail("request has no 'verb'", "Missing 'verb'")
  const resource = request.resource
  if (typeof resource !== 'string') return fail("request has no string 'resource'", "Missing 'resource'")
  const verb = request.verb
  if (!isVerb(verb)) return fail('unknown verb', 'Unknown verb')
  if ((verb === 'STORE' || verb === 'UPDATE') && !has(request, 'body')) fail("request has no 'body'", "Missing 'body'")
  return { verb, resource, body: has(request, 'body') ? request.body : null, id, request }
}

/** A reply's fields; `code` is left unchecked, since a bad code fails only its own call. */
export function parseResponse(json: Uint8Array | string): KorvResponse {
  const response = decodeJson(json)
  if (!isRecord(response) || !has(response, 'request_id')) {
    throw new KorvBadMessageError("reply has no 'request_id'")
  }
  return { requestId: response.request_id, code: response.code, body: has(response, 'body') ? response.body : null }
}
