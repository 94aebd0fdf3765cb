import { Buffer } from 'node:buffer'
import { crc32, deflateRawSync, gunzipSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeJson, encodeMessage } from '../src/codec.ts'
import { DEFAULT_COMPRESSION_LEVEL, DEFAULT_COMPRESSION_THRESHOLD, DEFAULT_MAX_MESSAGE_BYTES } from '../src/constants.ts'
import { checkCompression } from '../src/deflate.ts'
import { ErrorCode } from '../src/errors.ts'
import { noise, textVectors } from './helpers.ts'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)
// zlib's default, at which the spec's original encoding, `deflateRawSync(text)`, was made.
const ZLIB_DEFAULT_LEVEL = 6
const HEADER = Buffer.from('1f8b0800000000000003', 'hex')
const big = { maxMessageBytes: 64 * 1024 * 1024 }

function trailer(json: Buffer): Buffer {
  const out = Buffer.alloc(8)
  out.writeUInt32LE(crc32(json), 0)
  out.writeUInt32LE(json.length, 4)
  return out
}

/** The member the spec's first encoding wrote: the fixed header, `deflateRawSync` at `level`, CRC-32 and ISIZE. */
function deflatedMember(text: string, level = ZLIB_DEFAULT_LEVEL): Buffer {
  const json = Buffer.from(text, 'utf8')
  return Buffer.concat([HEADER, deflateRawSync(json, { level }), trailer(json)])
}

/** The member of `text` in stored blocks of 65 535 bytes, the last one marked final. */
function storedMember(text: string): Buffer {
  const json = Buffer.from(text, 'utf8')
  const parts: Buffer[] = [HEADER]
  let at = 0
  do {
    const block = json.subarray(at, at + 65_535)
    at += block.length
    const header = Buffer.alloc(5)
    header[0] = at === json.length ? 1 : 0
    header.writeUInt16LE(block.length, 1)
    header.writeUInt16LE(block.length ^ 0xffff, 3)
    parts.push(header, block)
  } while (at < json.length)
  parts.push(trailer(json))
  return Buffer.concat(parts)
}

const bytesOf = (message: object, limits?: { maxMessageBytes: number }, compression?: object): Buffer =>
  Buffer.from(encodeMessage(message, limits, compression))

/** A message whose JSON text is exactly `length` bytes (10 at least). */
function messageOf(length: number): object {
  const message = { pad: '' }
  message.pad = 'a'.repeat(length - encodeJson(message).length)
  expect(encodeJson(message).length).toBe(length)
  return message
}

const values: object[] = [
  {},
  { id: 1795353522.6659622, verb: 'GET', resource: '/hello', body: null },
  { body: 'h\u00e9llo \u20ac \ud83d\ude00'.repeat(300) },
  { body: noise(60_000).toString('base64') },
  { body: Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `item-${i}` })) },
  ...textVectors.map((v) => ({ text: v.text })),
]

describe('encodeMessage at an explicit level and threshold 0', () => {
  it("writes, at zlib's default level, exactly the spec's first encoding, deflateRawSync(text)", () => {
    for (const value of values) {
      expect(bytesOf(value, big, { level: ZLIB_DEFAULT_LEVEL, threshold: 0 }).equals(deflatedMember(encodeJson(value)))).toBe(true)
    }
  })

  it('writes deflateRawSync at each level 1 to 9', () => {
    for (let level = 1; level <= 9; level++) {
      for (const value of values) expect(bytesOf(value, big, { level, threshold: 0 }).equals(deflatedMember(encodeJson(value), level))).toBe(true)
    }
  })

  it("writes, at zlib's default level, exactly the spec's first encoding for random messages", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }), (message) => {
        expect(bytesOf(message, undefined, { level: ZLIB_DEFAULT_LEVEL, threshold: 0 }).equals(deflatedMember(encodeJson(message)))).toBe(true)
      }),
      { numRuns },
    )
  })
})

describe('encodeMessage by default', () => {
  it(`stores JSON below ${DEFAULT_COMPRESSION_THRESHOLD} bytes and deflates it from there at level ${DEFAULT_COMPRESSION_LEVEL}`, () => {
    for (const length of [10, 100, DEFAULT_COMPRESSION_THRESHOLD - 1]) {
      const message = messageOf(length)
      expect(bytesOf(message).equals(storedMember(encodeJson(message)))).toBe(true)
    }
    for (const length of [DEFAULT_COMPRESSION_THRESHOLD, 20_000]) {
      const message = messageOf(length)
      expect(bytesOf(message).equals(deflatedMember(encodeJson(message), DEFAULT_COMPRESSION_LEVEL))).toBe(true)
    }
    expect(checkCompression()).toEqual({ level: DEFAULT_COMPRESSION_LEVEL, threshold: DEFAULT_COMPRESSION_THRESHOLD })
  })

  it('stores every text vector as one block that Python-style gunzip reads', () => {
    for (const vector of textVectors) {
      const bytes = bytesOf({ text: vector.text })
      expect(bytes.subarray(10, 11).toString('hex')).toBe('01')
      expect(gunzipSync(bytes).toString('utf8')).toBe(encodeJson({ text: vector.text }))
    }
  })
})

describe('encodeMessage with a threshold', () => {
  it('stores JSON shorter than the threshold and deflates JSON of the threshold and more', () => {
    for (const threshold of [0, 1, 50, 1000]) {
      for (const length of [10, 49, 50, 51, 999, 1000, 5000]) {
        const message = messageOf(length)
        const expected = length < threshold ? storedMember(encodeJson(message)) : deflatedMember(encodeJson(message), 4)
        expect(bytesOf(message, undefined, { level: 4, threshold }).equals(expected)).toBe(true)
      }
    }
  })
})

describe('encodeMessage at level 0', () => {
  it('stores every message that fits, in blocks of 65 535 bytes', () => {
    for (const length of [10, 65_535, 65_536, 200_000]) {
      const message = messageOf(length)
      expect(bytesOf(message, big, { level: 0 }).equals(storedMember(encodeJson(message)))).toBe(true)
    }
  })

  it('deflates at level 1 a message that would not fit maxMessageBytes stored', () => {
    const message = messageOf(DEFAULT_MAX_MESSAGE_BYTES)
    expect(bytesOf(message, undefined, { level: 0 }).equals(deflatedMember(encodeJson(message), 1))).toBe(true)
    // The largest text that fits stored: the header, one block header and the trailer besides.
    const fits = messageOf(DEFAULT_MAX_MESSAGE_BYTES - 10 - 5 - 8)
    expect(bytesOf(fits, undefined, { level: 0 }).equals(storedMember(encodeJson(fits)))).toBe(true)
    const over = messageOf(DEFAULT_MAX_MESSAGE_BYTES - 10 - 5 - 8 + 1)
    expect(bytesOf(over, undefined, { level: 0 }).equals(deflatedMember(encodeJson(over), 1))).toBe(true)
  })
})

describe('encodeMessage refusals', () => {
  it('refuses what fits neither stored nor deflated, with the deflated size', () => {
    const body = noise(40_000).toString('base64')
    const deflated = deflatedMember(encodeJson({ body }), 1).length
    expect(deflated).toBeGreaterThan(DEFAULT_MAX_MESSAGE_BYTES)
    for (const compression of [undefined, { level: 0 }]) {
      expect(() => encodeMessage({ body }, undefined, compression)).toThrow(
        expect.objectContaining({ code: ErrorCode.MESSAGE_TOO_LARGE, size: deflated, limit: DEFAULT_MAX_MESSAGE_BYTES }),
      )
    }
  })

  it.each([
    ['a level below 0', { level: -1 }],
    ['a level above 9', { level: 10 }],
    ['a level that is not an integer', { level: 1.5 }],
    ['a level that is not a number', { level: '1' as unknown as number }],
    ['a negative threshold', { threshold: -1 }],
    ['a threshold that is not an integer', { threshold: 0.5 }],
    ['an infinite threshold', { threshold: Infinity }],
  ])('refuses %s with ERR_PROTO_USAGE', (_name, compression) => {
    expect(() => encodeMessage({}, undefined, compression)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => checkCompression(compression)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it('accepts the ends of each range', () => {
    for (const compression of [{ level: 0 }, { level: 9 }, { threshold: 0 }, { threshold: Number.MAX_SAFE_INTEGER }]) {
      expect(gunzipSync(encodeMessage({ a: 1 }, undefined, compression)).toString()).toBe('{"a":1}')
    }
  })
})
