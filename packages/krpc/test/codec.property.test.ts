import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeCall, encodeJson } from '../src/codec.ts'
import { isProtoError } from '@proto/framing'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)

// JSON values as JSON.parse would give them back: no -0, no undefined, finite numbers.
const jsonValue = fc.jsonValue().map((value) => JSON.parse(JSON.stringify(value)) as unknown)
const anyString = fc.string({ unit: 'binary' })

describe('encodeJson properties', () => {
  it('writes ASCII only, and it parses back to the same value', () => {
    fc.assert(fc.property(jsonValue, (value) => {
      const text = encodeJson(value)
      expect(/^[\x20-\x7e]*$/.test(text)).toBe(true)
      expect(JSON.parse(text)).toEqual(value)
    }), { numRuns })
  })

  it('writes any string, lone surrogates included, as JSON.stringify would read it', () => {
    fc.assert(fc.property(anyString, (text) => {
      const json = encodeJson(text)
      expect(/^[\x20-\x7e]*$/.test(json)).toBe(true)
      expect(JSON.parse(json)).toBe(text)
    }), { numRuns })
  })

  it('is a fixed point of its own output', () => {
    fc.assert(fc.property(jsonValue, (value) => {
      const text = encodeJson(value)
      expect(encodeJson(JSON.parse(text))).toBe(text)
    }), { numRuns })
  })
})

describe('decodeCall properties', () => {
  it('throws only typed errors, whatever the text', () => {
    fc.assert(fc.property(fc.oneof(anyString, jsonValue.map((v) => JSON.stringify(v))), (text) => {
      try {
        decodeCall(text)
      } catch (err) {
        expect(isProtoError(err)).toBe(true)
      }
    }), { numRuns })
  })
})
