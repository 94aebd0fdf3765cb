import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import { DEFAULT_MAX_LINE_BYTES } from '../src/constants.ts'
import { LineDecoder, encodeLine } from '../src/line.ts'
import type { LineDecoderInit } from '../src/line.ts'
import { randomChunkings } from '../src/testing/chunkings.ts'
import { hex, hexes, run } from './helpers.ts'

describe('LineDecoder', () => {
  it.each<[string, LineDecoderInit, string, string[], string?]>([
    ['nothing', {}, '', []],
    ['one empty line', {}, '0a', ['']],
    ['empty lines stay', {}, '0a0a610a0a', ['', '', '61', '']],
    ['a line', {}, '6869 0a', ['6869']],
    ['CR kept without stripCR', {}, '61 0d 0a', ['610d']],
    ['one CR stripped', { stripCR: true }, '61 0d 0a', ['61']],
    ['only one CR stripped', { stripCR: true }, '61 0d 0d 0a', ['610d']],
    ['a lone CR line becomes empty', { stripCR: true }, '0d 0a', ['']],
    ['a CR inside a line stays', { stripCR: true }, '61 0d 62 0a', ['610d62']],
    ['CR is no delimiter', {}, '61 0d 62 0d', [], 'ERR_PROTO_TRUNCATED_FRAME'],
    ['unterminated last line fails by default', {}, '610a 62', ['61'], 'ERR_PROTO_TRUNCATED_FRAME'],
    ['unterminated last line emitted', { trailing: 'emit' }, '610a 62 0d', ['61', '620d']],
    ['unterminated last line discarded', { trailing: 'discard' }, '610a 6263', ['61']],
    ['a line at the limit', { maxLineBytes: 3 }, '616263 0a', ['616263']],
    ['CR counts toward the limit', { maxLineBytes: 3, stripCR: true }, '616263 0d0a', [], 'ERR_PROTO_FRAME_TOO_LARGE'],
    ['frames before a fault come first', { maxLineBytes: 1 }, '61 0a 6263 0a 64 0a', ['61'], 'ERR_PROTO_FRAME_TOO_LARGE'],
    ['UTF-8 passes through as bytes', {}, 'c3a9 e282ac 0a', ['c3a9e282ac']],
  ])('%s', (_name, init, input, frames, code) => {
    for (const chunks of randomChunkings(hex(input), 7)) {
      const out = run(new LineDecoder(init), chunks)
      expect(hexes(out.frames)).toEqual(frames)
      expect(out.code).toBe(code)
    }
  })

  it('returns views of the chunk unless copy is set', () => {
    const chunk = Buffer.from('ab\ncd\n')
    const [view] = new LineDecoder().push(chunk)
    const [copied] = new LineDecoder({ copy: true }).push(chunk)
    chunk[0] = 0x7a
    expect(String(view)).toBe('zb')
    expect(String(copied)).toBe('ab')
  })

  it('joins a line split across chunks once, into a fresh buffer', () => {
    const decoder = new LineDecoder()
    const first = Buffer.from('ab')
    expect(decoder.push(first)).toEqual([])
    expect(decoder.buffered).toBe(2)
    const [line] = decoder.push(Buffer.from('c\n'))
    first[0] = 0x7a
    expect(String(line)).toBe('abc')
    expect(decoder.buffered).toBe(0)
  })

  it('strips a CR that ended the previous chunk', () => {
    const decoder = new LineDecoder({ stripCR: true })
    decoder.push(Buffer.from('ab\r'))
    expect(decoder.push(Buffer.from('\n')).map(String)).toEqual(['ab'])
  })

  it('accepts any Uint8Array view', () => {
    const backing = new Uint8Array([0x78, 0x61, 0x0a, 0x79])
    expect(new LineDecoder().push(backing.subarray(1, 3)).map(String)).toEqual(['a'])
  })

  it('uses DEFAULT_MAX_LINE_BYTES by default', () => {
    expect(DEFAULT_MAX_LINE_BYTES).toBe(65_536)
    const atLimit = Buffer.alloc(DEFAULT_MAX_LINE_BYTES + 1, 0x61)
    atLimit[DEFAULT_MAX_LINE_BYTES] = 0x0a
    expect(new LineDecoder().push(atLimit)[0]?.length).toBe(DEFAULT_MAX_LINE_BYTES)
    const over = Buffer.alloc(DEFAULT_MAX_LINE_BYTES + 2, 0x61)
    over[DEFAULT_MAX_LINE_BYTES + 1] = 0x0a
    expect(() => new LineDecoder().push(over)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE' }))
  })

  it('fails one byte over maxLineBytes before the LF arrives, holding no more than the limit', () => {
    const decoder = new LineDecoder({ maxLineBytes: 4 })
    decoder.push(Buffer.from('abcd'))
    expect(decoder.buffered).toBe(4)
    expect(() => decoder.push(Buffer.from('e'))).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE', size: 5, limit: 4 }),
    )
    expect(decoder.buffered).toBe(0)
  })

  it('holds at most maxLineBytes of 10 MiB without an LF', () => {
    const decoder = new LineDecoder({ maxLineBytes: 1024 })
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    let code: unknown
    let maxBuffered = 0
    try {
      for (let sent = 0; sent < 10 * 1024 * 1024; sent += 100) {
        decoder.push(chunk.subarray(0, 100))
        maxBuffered = Math.max(maxBuffered, decoder.buffered)
      }
    } catch (err) {
      code = (err as { code: string }).code
    }
    expect(code).toBe('ERR_PROTO_FRAME_TOO_LARGE')
    expect(maxBuffered).toBeLessThanOrEqual(1024)
  })

  it('keeps failing once failed, and keeps the fault behind the frames before it', () => {
    const decoder = new LineDecoder({ maxLineBytes: 2 })
    expect(decoder.push(Buffer.from('a\nbcd\n')).map(String)).toEqual(['a'])
    expect(decoder.error?.code).toBe('ERR_PROTO_FRAME_TOO_LARGE')
    expect(() => decoder.push(Buffer.from('e\n'))).toThrow(decoder.error)
    expect(() => decoder.end()).toThrow(decoder.error)
  })

  it('reports the bytes held when the input ends mid-line', () => {
    const decoder = new LineDecoder()
    decoder.push(Buffer.from('abc'))
    expect(() => decoder.end()).toThrow(expect.objectContaining({ code: 'ERR_PROTO_TRUNCATED_FRAME', received: 3 }))
  })

  it('emits a trailing line split across chunks as one buffer', () => {
    const decoder = new LineDecoder({ trailing: 'emit' })
    decoder.push(Buffer.from('ab'))
    decoder.push(Buffer.from('cd'))
    expect(decoder.end().map(String)).toEqual(['abcd'])
    expect(decoder.end()).toEqual([])
  })

  it('refuses bad options', () => {
    expect(() => new LineDecoder({ maxLineBytes: -1 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => new LineDecoder({ trailing: 'keep' as 'emit' })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })
})

describe('encodeLine', () => {
  it('writes UTF-8 and LF, or CRLF', () => {
    expect(encodeLine('hé').toString('hex')).toBe('68c3a90a')
    expect(encodeLine('').toString('hex')).toBe('0a')
    expect(encodeLine(Buffer.from('ab'), { crlf: true }).toString('hex')).toBe('61620d0a')
    expect(encodeLine('ab', { crlf: true }).toString('hex')).toBe('61620d0a')
  })

  it('refuses an embedded LF', () => {
    expect(() => encodeLine('a\nb')).toThrow(expect.objectContaining({ code: 'ERR_PROTO_INVALID_FRAME' }))
    expect(() => encodeLine(Buffer.from('a\n'))).toThrow(expect.objectContaining({ code: 'ERR_PROTO_INVALID_FRAME' }))
  })

  it('refuses a line over maxLineBytes, counted in UTF-8 bytes', () => {
    expect(encodeLine('abc', { maxLineBytes: 3 }).length).toBe(4)
    expect(() => encodeLine('ééé', { maxLineBytes: 5 })).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE', size: 6, limit: 5 }),
    )
    expect(() => encodeLine(Buffer.alloc(DEFAULT_MAX_LINE_BYTES + 1))).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_FRAME_TOO_LARGE' }),
    )
  })
})
