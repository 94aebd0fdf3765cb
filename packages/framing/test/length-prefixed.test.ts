import { Buffer } from 'node:buffer'
import process from 'node:process'
import { describe, expect, it } from 'vitest'
import { DEFAULT_MAX_FRAME_BYTES } from '../src/constants.ts'
import { LengthPrefixedDecoder, encodeLengthPrefix, encodeLengthPrefixed } from '../src/length-prefixed.ts'
import type { LengthPrefixInit } from '../src/length-prefixed.ts'
import { randomChunkings } from '../src/testing/chunkings.ts'
import { hex, hexes, run } from './helpers.ts'

describe('LengthPrefixedDecoder', () => {
  it.each<[string, LengthPrefixInit, string, string[], string?]>([
    ['u32 BE by default', {}, '00000003 616263 00000000', ['616263', '']],
    ['u8', { prefixBytes: 1 }, '03 616263 00 01 ff', ['616263', '', 'ff']],
    ['u16 BE', { prefixBytes: 2 }, '0003 616263', ['616263']],
    ['u16 LE', { prefixBytes: 2, endian: 'le' }, '0300 616263', ['616263']],
    ['u32 LE', { endian: 'le' }, '03000000 616263', ['616263']],
    ['u64 BE', { prefixBytes: 8 }, '0000000000000002 6162', ['6162']],
    ['u64 LE', { prefixBytes: 8, endian: 'le' }, '0200000000000000 6162', ['6162']],
    ['length counting the prefix', { lengthIncludesPrefix: true }, '00000006 6162', ['6162']],
    ['length adjusted', { prefixBytes: 1, lengthAdjustment: 2 }, '00 6162', ['6162']],
    ['an empty payload', { prefixBytes: 2 }, '0000', ['']],
    ['a negative length', { prefixBytes: 1, lengthIncludesPrefix: true }, '00', [], 'ERR_PROTO_BAD_LENGTH'],
    ['a negative length after frames', { prefixBytes: 1, lengthAdjustment: -1 }, '02 61 00', ['61'], 'ERR_PROTO_BAD_LENGTH'],
    ['a payload at the limit', { prefixBytes: 1, maxFrameBytes: 2 }, '02 6162', ['6162']],
    ['a payload one over the limit', { prefixBytes: 1, maxFrameBytes: 2 }, '01 61 03 616263', ['61'], 'ERR_PROTO_FRAME_TOO_LARGE'],
    ['a u64 above 2^53 - 1', { prefixBytes: 8 }, '0020000000000000', [], 'ERR_PROTO_FRAME_TOO_LARGE'],
    ['2^64 - 1', { prefixBytes: 8, endian: 'le' }, 'ffffffffffffffff', [], 'ERR_PROTO_FRAME_TOO_LARGE'],
    ['input ending in a prefix', {}, '000000', [], 'ERR_PROTO_TRUNCATED_FRAME'],
    ['input ending in a payload', {}, '00000003 6162', [], 'ERR_PROTO_TRUNCATED_FRAME'],
  ])('%s', (_name, init, input, frames, code) => {
    for (const chunks of randomChunkings(hex(input), 11)) {
      const out = run(new LengthPrefixedDecoder(init), chunks)
      expect(hexes(out.frames)).toEqual(frames)
      expect(out.code).toBe(code)
    }
  })

  it('returns views of the chunk unless copy is set', () => {
    const chunk = hex('0000000261620000000163')
    const views = new LengthPrefixedDecoder().push(chunk)
    const copies = new LengthPrefixedDecoder({ copy: true }).push(chunk)
    chunk.fill(0x7a)
    expect(views.map(String)).toEqual(['zz', 'z'])
    expect(copies.map(String)).toEqual(['ab', 'c'])
  })

  it('reports received and expected bytes when the input ends mid-frame', () => {
    const decoder = new LengthPrefixedDecoder()
    decoder.push(hex('00000005 6162'))
    expect(decoder.buffered).toBe(2)
    expect(() => decoder.end()).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_TRUNCATED_FRAME', received: 6, expected: 9 }),
    )
  })

  it('uses DEFAULT_MAX_FRAME_BYTES by default', () => {
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(16_777_216)
    expect(new LengthPrefixedDecoder().push(encodeLengthPrefix(DEFAULT_MAX_FRAME_BYTES))).toEqual([])
    expect(() => new LengthPrefixedDecoder().push(encodeLengthPrefix(DEFAULT_MAX_FRAME_BYTES + 1, { maxFrameBytes: 2 ** 30 }))).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE', size: DEFAULT_MAX_FRAME_BYTES + 1, limit: DEFAULT_MAX_FRAME_BYTES }),
    )
  })

  it('allocates nothing for a declared 1 GiB or 2^64 - 1', () => {
    const before = process.memoryUsage().arrayBuffers
    const gib = new LengthPrefixedDecoder({ maxFrameBytes: 2 ** 31 })
    expect(gib.push(hex('40000000 6162'))).toEqual([])
    expect(gib.buffered).toBe(2)
    expect(() => new LengthPrefixedDecoder({ prefixBytes: 8 }).push(hex('ffffffffffffffff'))).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE' }),
    )
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024)
  })

  it('holds only the bytes received, never more than the limit', () => {
    const decoder = new LengthPrefixedDecoder({ maxFrameBytes: 100 })
    decoder.push(hex('00000064'))
    for (let i = 0; i < 99; i++) {
      decoder.push(hex('61'))
      expect(decoder.buffered).toBe(i + 1)
    }
    expect(decoder.push(hex('62 00')).map((f) => f.length)).toEqual([100])
    expect(decoder.buffered).toBe(1)
  })

  it('keeps failing once failed', () => {
    const decoder = new LengthPrefixedDecoder({ prefixBytes: 1, maxFrameBytes: 1 })
    expect(() => decoder.push(hex('05'))).toThrow(expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE' }))
    expect(() => decoder.push(hex('00'))).toThrow(decoder.error)
    expect(() => decoder.end()).toThrow(decoder.error)
  })

  it('refuses bad options', () => {
    for (const init of [
      { prefixBytes: 3 as 4 },
      { endian: 'middle' as 'be' },
      { lengthAdjustment: 0.5 },
      { maxFrameBytes: Infinity },
    ]) {
      expect(() => new LengthPrefixedDecoder(init)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    }
  })
})

describe('encodeLengthPrefixed', () => {
  it.each<[LengthPrefixInit, string]>([
    [{}, '00000002 6162'],
    [{ prefixBytes: 1 }, '02 6162'],
    [{ prefixBytes: 2, endian: 'le' }, '0200 6162'],
    [{ prefixBytes: 8 }, '0000000000000002 6162'],
    [{ prefixBytes: 8, endian: 'le' }, '0200000000000000 6162'],
    [{ lengthIncludesPrefix: true }, '00000006 6162'],
    [{ prefixBytes: 1, lengthAdjustment: 2 }, '00 6162'],
  ])('encodes %o', (init, expected) => {
    expect(encodeLengthPrefixed(Buffer.from('ab'), init).toString('hex')).toBe(hex(expected).toString('hex'))
    expect(encodeLengthPrefix(2, init).toString('hex')).toBe(hex(expected).subarray(0, -2).toString('hex'))
  })

  it('writes 2^53 - 1 in an 8-byte prefix', () => {
    const prefix = encodeLengthPrefix(Number.MAX_SAFE_INTEGER, { prefixBytes: 8, maxFrameBytes: Number.MAX_SAFE_INTEGER })
    expect(prefix.toString('hex')).toBe('001fffffffffffff')
  })

  it('refuses lengths the prefix cannot hold or over maxFrameBytes', () => {
    expect(() => encodeLengthPrefixed(Buffer.alloc(256), { prefixBytes: 1 })).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE' }),
    )
    expect(encodeLengthPrefixed(Buffer.alloc(255), { prefixBytes: 1 }).length).toBe(256)
    expect(() => encodeLengthPrefixed(Buffer.alloc(255), { prefixBytes: 1, lengthIncludesPrefix: true })).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE' }),
    )
    expect(() => encodeLengthPrefix(65_536, { prefixBytes: 2 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE' }))
    expect(() => encodeLengthPrefix(2 ** 32, { maxFrameBytes: 2 ** 40 })).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE' }),
    )
    expect(() => encodeLengthPrefixed(Buffer.alloc(3), { maxFrameBytes: 2 })).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE', size: 3, limit: 2 }),
    )
  })

  it('refuses a length that adjusts below zero, or is no length', () => {
    expect(() => encodeLengthPrefix(1, { prefixBytes: 1, lengthAdjustment: 2 })).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_BAD_LENGTH' }),
    )
    expect(() => encodeLengthPrefix(-1)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => encodeLengthPrefix(1.5)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })
})
