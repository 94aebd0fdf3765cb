import { isUtf8 } from 'node:buffer'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeCommand, encodeLine } from '../src/codec.ts'
import { numRuns } from './helpers.ts'

/** Well-formed text: any code points, no lone surrogates. */
const text = fc.string({ unit: 'binary' })

describe('codec properties', () => {
  it('decodes the UTF-8 of any string to itself, valid', () => {
    fc.assert(
      fc.property(text, (s) => {
        expect(decodeCommand(Buffer.from(s, 'utf8'))).toEqual({ text: s, invalid: false })
      }),
      { numRuns },
    )
  })

  it('flags random bytes invalid exactly when they are not well-formed UTF-8', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const { text: decoded, invalid } = decodeCommand(bytes)
        expect(invalid).toBe(!isUtf8(bytes))
        expect(decoded).toBe(new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes))
      }),
      { numRuns },
    )
  })

  it('flags well-formed text with one bad byte spliced in as invalid', () => {
    fc.assert(
      fc.property(text, text, fc.constantFrom(0x80, 0xbf, 0xc0, 0xc1, 0xf5, 0xff), (a, b, bad) => {
        const bytes = Buffer.concat([Buffer.from(a), Buffer.from([bad]), Buffer.from(b)])
        expect(decodeCommand(bytes)).toEqual({ text: `${a}\uFFFD${b}`, invalid: true })
      }),
      { numRuns },
    )
  })

  it('round-trips any LF-free string through encodeLine', () => {
    fc.assert(
      fc.property(text.filter((s) => !s.includes('\n')), (s) => {
        const line = Buffer.from(encodeLine(s))
        expect(line.at(-1)).toBe(0x0a)
        expect(line.indexOf(0x0a)).toBe(line.length - 1)
        expect(decodeCommand(line.subarray(0, -1))).toEqual({ text: s, invalid: false })
      }),
      { numRuns },
    )
  })
})
