import { Buffer } from 'node:buffer'
import { crc32, createDeflateRaw, deflateRawSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeJson, encodeMessage } from '../src/codec.ts'
import { createRawDeflate } from '../src/deflate.ts'
import { noise, textVectors } from './helpers.ts'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)

const joined = (pieces: Buffer[]): Buffer => Buffer.concat(pieces)

// The spec's encoding (§1.2), written out: the fixed header, deflateRawSync, CRC-32 and ISIZE.
function specMember(text: string): Buffer {
  const json = Buffer.from(text, 'utf8')
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(crc32(json), 0)
  trailer.writeUInt32LE(json.length, 4)
  return Buffer.concat([Buffer.from('1f8b0800000000000003', 'hex'), deflateRawSync(json), trailer])
}

const letters = (length: number, seed: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string => {
  let state = seed
  let text = ''
  for (let i = 0; i < length; i++) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    text += alphabet[state % alphabet.length] ?? 'a'
  }
  return text
}

/**
 * Pairs (before, after) where `before` leaves bytes in the window just past the end of `after`
 * that would complete a match against an earlier string of `after`: a deflate stream that only
 * reset its state between them would find that match, a fresh one would not.
 */
function windowTraps(): [Buffer, Buffer][] {
  const traps: [Buffer, Buffer][] = []
  for (let seed = 1; seed <= 60; seed++) {
    // Some end far into the window.
    const filler = letters(seed % 10 === 0 ? [3000, 40_000, 65_200][seed % 3] ?? 0 : 20 + (seed * 7) % 200, seed)
    const end = letters(3 + (seed % 2), seed + 1000)
    const next = letters(1, seed + 2000)
    const after = Buffer.from(`${filler}${end}${next}${filler.slice(0, 10)}${end}`)
    for (let shift = 0; shift < 4; shift++) {
      const before = Buffer.alloc(after.length + 300, 'Q')
      after.copy(before)
      before.write(next.repeat(4), after.length + shift)
      traps.push([before, after])
    }
    // Longer than the window, which then holds nothing else wherever the slides left it.
    traps.push([Buffer.alloc(100_000, next), after])
  }
  return traps
}

/**
 * The same trap in JSON: each message after the first ends in three bytes (`7]]`, `7}}`, `7}]`)
 * that occur earlier followed by a comma, and the message before it is long and all commas.
 */
function jsonTraps(): [object, object][] {
  const traps: [object, object][] = []
  for (let seed = 1; seed <= 40; seed++) {
    const digit = seed % 10
    const a = Array.from({ length: seed % 7 }, (_, i) => 10 + ((seed * 31 + i * 17) % 90))
    const b = Array.from({ length: seed % 5 }, (_, i) => 10 + ((seed * 13 + i * 29) % 90))
    for (const after of [[[[...a, digit]], [...b, digit]], { a: { b: [...a, digit] }, c: [...b, digit] }, [{ x: digit }, { y: digit }]]) {
      traps.push([[','.repeat(JSON.stringify(after).length + 8)], after])
    }
  }
  return traps
}

const samples: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from('x'),
  Buffer.from('{"id":1795353522.6659622,"verb":"GET","resource":"/hello","body":null}'),
  Buffer.from(encodeJson({ s: 'h\u00e9llo \u20ac \ud83d\ude00' }), 'utf8'),
  Buffer.from('h\u00e9llo \u20ac \ud83d\ude00 \u4e2d\u6587'.repeat(500), 'utf8'),
  ...textVectors.map((v) => Buffer.from(v.text ?? '', 'utf8')),
  // Incompressible and over one output chunk (64 KiB) and one window (64 KiB).
  noise(200_000),
  Buffer.from(letters(300_000, 7, 'ab')),
  Buffer.from(JSON.stringify(Array.from({ length: 12_000 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['x', `t${i % 17}`] })))),
  Buffer.from(letters(5000, 3, 'abcd')),
]

describe('createRawDeflate on one reused stream', () => {
  it('writes what deflateRawSync writes, in any order of small, large and multi-byte inputs', () => {
    const deflate = createRawDeflate(createDeflateRaw())
    const all = samples
    for (const order of [all, [...all].reverse(), all.flatMap((input, i) => [input, all[(i * 5) % all.length] ?? input])]) {
      for (const input of order) expect(joined(deflate(input)).equals(deflateRawSync(input))).toBe(true)
    }
  })

  it('leaves nothing of one input in the window that could change the next one', () => {
    const deflate = createRawDeflate(createDeflateRaw())
    for (const [before, after] of windowTraps()) {
      expect(joined(deflate(before)).equals(deflateRawSync(before))).toBe(true)
      expect(joined(deflate(after)).equals(deflateRawSync(after))).toBe(true)
    }
  })

  it('writes what deflateRawSync writes for random sequences of text', () => {
    const deflate = createRawDeflate(createDeflateRaw())
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 3000 }), fc.stringMatching(/^[ab{}":,]{0,600}$/)), { minLength: 1, maxLength: 8 }), (texts) => {
        for (const text of texts) {
          const input = Buffer.from(text, 'utf8')
          expect(joined(deflate(input)).equals(deflateRawSync(input))).toBe(true)
        }
      }),
      { numRuns },
    )
  })

  it('hands back pieces that stay valid until the next call', () => {
    const deflate = createRawDeflate(createDeflateRaw())
    const pieces = deflate(noise(150_000))
    expect(pieces.length).toBeGreaterThan(1)
    expect(joined(pieces).equals(deflateRawSync(noise(150_000)))).toBe(true)
  })

  it('falls back to deflateRawSync when the engine lacks the internals it needs', () => {
    for (const engine of [{}, null, { _handle: {}, _writeState: new Uint32Array(2), reset() {}, on() {} }]) {
      const deflate = createRawDeflate(engine)
      for (const input of samples) expect(deflate(input)).toEqual([deflateRawSync(input)])
    }
  })

  it.each([
    ['deflating a message', 1],
    ['clearing the window', 2],
  ])('falls back to deflateRawSync for good once the stream fails %s', (_when, failingWrite) => {
    const engine = createDeflateRaw()
    const handle = (engine as unknown as { _handle: { writeSync: (...args: unknown[]) => void } })._handle
    const writeSync = handle.writeSync.bind(handle)
    let writes = 0
    handle.writeSync = (...args: unknown[]) => {
      if (++writes < failingWrite) {
        writeSync(...args)
        return
      }
      // What a native zlib error does: it destroys the stream.
      engine.destroy(new Error('zlib failed'))
    }
    const deflate = createRawDeflate(engine)
    const long = Buffer.from('{"id":1,"padding":"abcdefghijklmnopqrstuvwxyz"}')
    const short = Buffer.from('{"id":1}')
    for (const input of [long, short, short, long]) expect(joined(deflate(input)).equals(deflateRawSync(input))).toBe(true)
    expect(writes).toBe(failingWrite)
  })
})

describe('encodeMessage bytes', () => {
  it('are exactly the spec encoding of the JSON, whatever came before', () => {
    const values: unknown[] = [
      {},
      { id: 1795353522.6659622, verb: 'GET', resource: '/hello', body: null },
      { body: 'h\u00e9llo \u20ac \ud83d\ude00'.repeat(300) },
      { body: noise(60_000).toString('base64') },
      { body: Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `item-${i}` })) },
      ...textVectors.map((v) => ({ text: v.text })),
    ]
    for (const value of [...values, ...[...values].reverse()]) {
      const limits = { maxMessageBytes: 1024 * 1024 }
      expect(Buffer.from(encodeMessage(value as object, limits)).equals(specMember(encodeJson(value)))).toBe(true)
    }
    for (const [before, after] of jsonTraps()) {
      encodeMessage(before)
      expect(Buffer.from(encodeMessage(after)).equals(specMember(encodeJson(after)))).toBe(true)
    }
  })

  it('are exactly the spec encoding for random messages in sequence', () => {
    fc.assert(
      fc.property(fc.array(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }), { minLength: 1, maxLength: 5 }), (messages) => {
        for (const message of messages) {
          expect(Buffer.from(encodeMessage(message)).equals(specMember(encodeJson(message)))).toBe(true)
        }
      }),
      { numRuns },
    )
  })
})
