import { Buffer } from 'node:buffer'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { createMessageDecoder, decodeJson, encodeJson, encodeMessage, parseRequest, parseResponse } from '../src/codec.ts'
import { DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_MESSAGE_BYTES } from '../src/constants.ts'
import { ErrorCode } from '../src/errors.ts'
import type { KorvBadMessageError } from '../src/errors.ts'
import { noise, pythonGzip, textVectors, vector, vectorText } from './helpers.ts'

const rejectionOf = (json: string | Uint8Array): unknown => {
  try {
    parseRequest(json)
  } catch (err) {
    expect((err as KorvBadMessageError).code).toBe(ErrorCode.BAD_MESSAGE)
    return (err as KorvBadMessageError).reply
  }
  return expect.unreachable('parseRequest accepted it')
}

describe('encodeJson', () => {
  const texts = textVectors.filter((v) => v.name !== 'two-gzip-members-in-one-packet' && v.name !== 'eof-after-request')

  it.each(texts.map((v) => [v.name, v.text ?? '']))('writes %s as the original did', (_name, text) => {
    expect(encodeJson(JSON.parse(text))).toBe(text)
  })

  it('escapes every UTF-16 unit from 0x7F up in lowercase, like ensure_ascii', () => {
    expect(encodeJson({ s: 'h\u00e9llo \u007f \u20ac \ud83d\ude00 \ud800' })).toBe(
      '{"s":"h\\u00e9llo \\u007f \\u20ac \\ud83d\\ude00 \\ud800"}',
    )
    expect(encodeJson('\n\t\u0001"\\')).toBe('"\\n\\t\\u0001\\"\\\\"')
    expect(encodeJson({ s: 'a\u007fb' })).toBe('{"s":"a\\u007fb"}')
  })

  it('refuses what JSON cannot hold with ERR_KORV_UNSERIALIZABLE', () => {
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    for (const value of [1n, cycle, undefined, () => 1, Symbol('x')]) {
      expect(() => encodeJson(value)).toThrow(expect.objectContaining({ code: ErrorCode.UNSERIALIZABLE }))
    }
  })
})

describe('encodeMessage', () => {
  it('writes one gzip member with the Linux gzipSync header, CRC-32 and ISIZE', () => {
    const bytes = Buffer.from(encodeMessage(JSON.parse(vectorText('get-hello-request')) as object))
    expect(bytes.subarray(0, 10).toString('hex')).toBe('1f8b0800000000000003')
    expect(gunzipSync(bytes).toString()).toBe(vectorText('get-hello-request'))
    expect(bytes.readUInt32LE(bytes.length - 4)).toBe(Buffer.byteLength(vectorText('get-hello-request')))
  })

  it('refuses a message over maxMessageBytes before anything is written', () => {
    const body = noise(3000).toString('base64')
    expect(() => encodeMessage({ body }, { maxMessageBytes: 1000 })).toThrow(
      expect.objectContaining({ code: ErrorCode.MESSAGE_TOO_LARGE, limit: 1000 }),
    )
    expect(encodeMessage({ body }).length).toBeLessThanOrEqual(DEFAULT_MAX_MESSAGE_BYTES)
  })

  it('refuses a bad limit with ERR_PROTO_USAGE', () => {
    expect(() => encodeMessage({}, { maxMessageBytes: 0 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })
})

describe('message decoder', () => {
  it('reads the bytes the original sends (get-hello-response-gzip-hex)', async () => {
    const [frame] = await createMessageDecoder().push(vector('get-hello-response-gzip-hex'))
    expect(frame?.toString()).toBe(vectorText('get-hello-response'))
  })

  it('stops a gzip bomb at maxJsonBytes with ERR_PROTO_FRAME_TOO_LARGE', async () => {
    const bomb = pythonGzip(Buffer.alloc(DEFAULT_MAX_JSON_BYTES + 1, 0x20))
    expect(bomb.length).toBeLessThan(DEFAULT_MAX_MESSAGE_BYTES)
    await expect(createMessageDecoder().push(bomb)).rejects.toMatchObject({ code: 'ERR_PROTO_FRAME_TOO_LARGE' })
    const exact = pythonGzip(Buffer.alloc(DEFAULT_MAX_JSON_BYTES, 0x20))
    expect((await createMessageDecoder().push(exact))[0]?.length).toBe(DEFAULT_MAX_JSON_BYTES)
  })

  it('refuses a member over maxMessageBytes', async () => {
    const member = Buffer.from(encodeMessage({ pad: 'x'.repeat(200) }))
    await expect(createMessageDecoder({ maxMessageBytes: member.length - 1 }).push(member)).rejects.toMatchObject({
      code: 'ERR_PROTO_FRAME_TOO_LARGE',
    })
    expect(await createMessageDecoder({ maxMessageBytes: member.length }).push(member)).toHaveLength(1)
  })
})

describe('parseRequest: the checks of spec §1.5 in order', () => {
  it('returns the fields and the whole request', () => {
    expect(parseRequest(vector('store-with-request-key-request'))).toEqual({
      verb: 'STORE', resource: '/items', body: 2, id: 5,
      request: { id: 5, verb: 'STORE', resource: '/items', request: { body: 1 }, body: 2 },
    })
    expect(parseRequest(vector('get-without-body-key-request')).body).toBeNull()
  })

  it.each([
    ['not JSON', 'hello\n', 0, 'Unable to process request'],
    ['not UTF-8', Buffer.from([0x22, 0xff, 0x22]), 0, 'Unable to process request'],
    ['a UTF-8 BOM', '\ufeff{"id":1}', 0, 'Unable to process request'],
    ["Python's NaN", '{"id":NaN,"verb":"GET","resource":"/"}', 0, 'Unable to process request'],
    ['an array', '[1]', 0, "Missing 'id'"],
    ['no id', vectorText('missing-id-request'), 0, "Missing 'id'"],
    ['no verb', '{"id":2,"resource":"/hello"}', 2, "Missing 'verb'"],
    ['no resource', '{"id":3,"verb":"GET"}', 3, "Missing 'resource'"],
    ['a resource that is not a string', '{"id":3,"verb":"GET","resource":7}', 3, "Missing 'resource'"],
    ['an unknown verb', vectorText('unknown-verb-request'), 1, 'Unknown verb'],
    ['a lowercase verb', '{"id":1,"verb":"get","resource":"/"}', 1, 'Unknown verb'],
    ['STORE without body', '{"id":"s","verb":"STORE","resource":"/items"}', 's', "Missing 'body'"],
    ['UPDATE without body', '{"id":"u","verb":"UPDATE","resource":"/items"}', 'u', "Missing 'body'"],
  ])('answers %s with 400', (_name, input, requestId, message) => {
    expect(rejectionOf(input)).toEqual({ request_id: requestId, code: 400, body: { message } })
  })
})

describe('decodeJson', () => {
  it('reads ASCII and UTF-8 bytes alike, from a Buffer or any Uint8Array view', () => {
    const text = '{"id":1,"s":"h\u00e9llo \u20ac \ud83d\ude00","t":"h\\u00e9"}'
    const bytes = Buffer.from(`xx${text}yy`, 'utf8')
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset + 2, bytes.length - 4)
    const ascii = Buffer.from('--{"id":2,"s":"plain"}--', 'utf8')
    expect(decodeJson(view)).toEqual({ id: 1, s: 'h\u00e9llo \u20ac \ud83d\ude00', t: 'h\u00e9' })
    expect(decodeJson(Buffer.from(view))).toEqual(decodeJson(view))
    expect(decodeJson(new Uint8Array(ascii.buffer, ascii.byteOffset + 2, ascii.length - 4))).toEqual({ id: 2, s: 'plain' })
    expect(decodeJson(ascii.subarray(2, -2))).toEqual({ id: 2, s: 'plain' })
  })
})

describe('parseResponse and decodeJson', () => {
  it('reads request_id, code and body', () => {
    expect(parseResponse(vector('handler-returns-non-tuple-response'))).toMatchObject({ code: 'oops', body: null })
    expect(parseResponse(vector('string-id-response')).requestId).toBe('abc-1')
  })

  it('refuses a reply without request_id', () => {
    expect(() => parseResponse('{"code":200}')).toThrow(expect.objectContaining({ code: ErrorCode.BAD_MESSAGE }))
    expect(() => decodeJson('{')).toThrow(expect.objectContaining({ code: ErrorCode.BAD_MESSAGE }))
  })
})
