import { Buffer } from 'node:buffer'
import fc from 'fast-check'
import { randomChunkings } from '@proto/framing/testing'
import { describe, expect, it } from 'vitest'
import { createMessageDecoder, encodeJson, encodeMessage, parseRequest } from '../src/codec.ts'
import { ErrorCode } from '../src/errors.ts'
import { pythonGzip } from './helpers.ts'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)
// Any level, and thresholds on both sides of the message sizes drawn here.
const compression = fc.record({ level: fc.integer({ min: 0, max: 9 }), threshold: fc.oneof(fc.nat(300), fc.nat()) })

describe('codec properties', () => {
  it('encodeJson is ASCII, parses back to the value and re-encodes to itself', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = encodeJson(value)
        expect(/^[\x20-\x7e]*$/.test(text)).toBe(true)
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)))
        expect(encodeJson(JSON.parse(text))).toBe(text)
      }),
      { numRuns },
    )
  })

  it('decoding an encoded message gives its JSON back, at any level and threshold', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }), compression, async (message, options) => {
        const frames = await createMessageDecoder().push(encodeMessage(message, undefined, options))
        expect(frames.map((f) => JSON.parse(f.toString('utf8')) as unknown)).toEqual([JSON.parse(encodeJson(message))])
      }),
      { numRuns },
    )
  })

  it('any chunking of coalesced members, ours at any level and threshold or Python-style, decodes to the same messages', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.jsonValue({ maxDepth: 2 }), fc.option(compression)), { minLength: 1, maxLength: 4 }),
        fc.integer(),
        async (messages, seed) => {
          const texts = messages.map(([value]) => encodeJson({ value }))
          // No options: the member as Python's gzip.compress writes it.
          const wire = Buffer.concat(
            messages.map(([value, options], i) => (options === null ? pythonGzip(texts[i] ?? '') : encodeMessage({ value }, undefined, options))),
          )
          for (const chunks of randomChunkings(wire, seed, 4)) {
            const decoder = createMessageDecoder()
            const out: string[] = []
            for (const chunk of chunks) for (const frame of await decoder.push(chunk)) out.push(frame.toString('utf8'))
            expect(await decoder.end()).toEqual([])
            expect(out).toEqual(texts)
          }
        },
      ),
      { numRuns: Math.max(1, Math.floor(numRuns / 4)) },
    )
  })

  it('parseRequest refuses random input only with ERR_KORV_BAD_MESSAGE and a 400 reply', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array(), fc.jsonValue().map((v) => JSON.stringify(v))), (input) => {
        try {
          parseRequest(input)
        } catch (err) {
          expect(err).toMatchObject({ code: ErrorCode.BAD_MESSAGE, reply: { code: 400 } })
        }
      }),
      { numRuns },
    )
  })
})
