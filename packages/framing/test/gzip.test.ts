import { Buffer } from 'node:buffer'
import zlib from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { DEFAULT_MAX_COMPRESSED_BYTES } from '../src/constants.ts'
import { GzipMemberDecoder } from '../src/gzip.ts'
import { randomChunkings, splitAt } from '../src/testing/chunkings.ts'
import { rejection, runAsync } from './helpers.ts'

interface MemberInit {
  extra?: Buffer
  name?: string
  comment?: string
  hcrc?: boolean
  flags?: number
  method?: number
}

/** A gzip member built field by field, so every header flag can be exercised. */
function member(data: Buffer | string, init: MemberInit = {}): Buffer {
  const payload = Buffer.from(data)
  let flags = init.flags ?? 0
  const parts: Buffer[] = []
  if (init.extra !== undefined) {
    flags |= 0x04
    const xlen = Buffer.alloc(2)
    xlen.writeUInt16LE(init.extra.length)
    parts.push(xlen, init.extra)
  }
  if (init.name !== undefined) {
    flags |= 0x08
    parts.push(Buffer.from(`${init.name}\0`, 'latin1'))
  }
  if (init.comment !== undefined) {
    flags |= 0x10
    parts.push(Buffer.from(`${init.comment}\0`, 'latin1'))
  }
  if (init.hcrc === true) flags |= 0x02
  const fixed = Buffer.from([0x1f, 0x8b, init.method ?? 8, flags, 0, 0, 0, 0, 0, 0xff])
  let header = Buffer.concat([fixed, ...parts])
  if (init.hcrc === true) {
    const crc = Buffer.alloc(2)
    crc.writeUInt16LE(zlib.crc32(header) & 0xffff)
    header = Buffer.concat([header, crc])
  }
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(zlib.crc32(payload), 0)
  trailer.writeUInt32LE(payload.length % 2 ** 32, 4)
  return Buffer.concat([header, zlib.deflateRawSync(payload), trailer])
}

async function decodeEveryway(input: Buffer, init?: ConstructorParameters<typeof GzipMemberDecoder>[0]) {
  const outcomes = []
  for (const chunks of randomChunkings(input, 3, 6)) outcomes.push(await runAsync(new GzipMemberDecoder(init), chunks))
  return outcomes
}

describe('GzipMemberDecoder', () => {
  it.each<[string, Buffer, string[]]>([
    ['a member from zlib', zlib.gzipSync('hello'), ['hello']],
    ['an empty member', zlib.gzipSync(''), ['']],
    ['FNAME', member('named', { name: 'file.txt' }), ['named']],
    ['FEXTRA', member('extra', { extra: Buffer.from('AB\x02\x00xy') }), ['extra']],
    ['an empty FEXTRA', member('x', { extra: Buffer.alloc(0) }), ['x']],
    ['FCOMMENT', member('commented', { comment: 'a comment' }), ['commented']],
    ['FHCRC', member('checked', { hcrc: true }), ['checked']],
    ['every flag', member('all', { extra: Buffer.from('e'), name: 'n', comment: 'c', hcrc: true, flags: 0x01 }), ['all']],
    ['members coalesced', Buffer.concat([zlib.gzipSync('one'), member('two', { name: 'x' }), zlib.gzipSync('')]), ['one', 'two', '']],
    ['a member of 200 KiB', zlib.gzipSync(Buffer.alloc(200 * 1024, 'ab')), [Buffer.alloc(200 * 1024, 'ab').toString()]],
  ])('decodes %s however it is split', async (_name, input, frames) => {
    for (const out of await decodeEveryway(input)) {
      expect(out.code).toBeUndefined()
      expect(out.frames.map(String)).toEqual(frames)
    }
  })

  it.each<[string, Buffer]>([
    ['bad magic', Buffer.from('hello world, not gzip')],
    ['a method other than deflate', member('x', { method: 7 })],
    ['reserved flags', member('x', { flags: 0x20 })],
    ['a wrong header CRC', (() => {
      const m = member('x', { hcrc: true, name: 'n' })
      m[12] = (m[12] ?? 0) ^ 0xff
      return m
    })()],
    ['a corrupt body', (() => {
      const m = zlib.gzipSync('hello hello hello')
      m[10] = 0xff
      return m
    })()],
    ['a wrong CRC-32', (() => {
      const m = zlib.gzipSync('hello')
      m[m.length - 8] = (m[m.length - 8] ?? 0) ^ 1
      return m
    })()],
    ['a wrong ISIZE', (() => {
      const m = zlib.gzipSync('hello')
      m[m.length - 4] = (m[m.length - 4] ?? 0) + 1
      return m
    })()],
  ])('refuses %s with ERR_PROTO_INVALID_FRAME', async (_name, input) => {
    for (const out of await decodeEveryway(input)) {
      expect(out.frames).toEqual([])
      expect(out.code).toBe('ERR_PROTO_INVALID_FRAME')
    }
  })

  it.each(['68656c6c6f0a', '1f00', '1f8b07', '1f8b0820'])('refuses the short bad header %s at once', async (input) => {
    expect(await rejection(new GzipMemberDecoder().push(Buffer.from(input, 'hex')))).toMatchObject({
      code: 'ERR_PROTO_INVALID_FRAME',
    })
  })

  it('holds a short header that is good so far', async () => {
    const decoder = new GzipMemberDecoder()
    expect(await decoder.push(Buffer.from('1f8b08', 'hex'))).toEqual([])
    expect(decoder.buffered).toBe(3)
  })

  it('wraps the zlib error as the cause of a bad body', async () => {
    const m = zlib.gzipSync('hello hello hello')
    m[10] = 0xff
    const err = await rejection(new GzipMemberDecoder().push(m))
    expect(err).toMatchObject({ code: 'ERR_PROTO_INVALID_FRAME', name: 'InvalidFrameError' })
    expect((err as Error).cause).toBeInstanceOf(Error)
  })

  it('returns the members before a fault, then throws it', async () => {
    const decoder = new GzipMemberDecoder()
    const frames = await decoder.push(Buffer.concat([zlib.gzipSync('ok'), Buffer.from('garbage!!!')]))
    expect(frames.map(String)).toEqual(['ok'])
    expect(decoder.error?.code).toBe('ERR_PROTO_INVALID_FRAME')
    expect(await rejection(decoder.push(zlib.gzipSync('later')))).toBe(decoder.error)
    expect(await rejection(decoder.end())).toBe(decoder.error)
  })

  it('fails with ERR_PROTO_TRUNCATED_FRAME when the input ends mid-member', async () => {
    const m = zlib.gzipSync('hello')
    for (const cut of [1, 10, 12, m.length - 1]) {
      const out = await runAsync(new GzipMemberDecoder(), [m.subarray(0, cut)])
      expect(out.code).toBe('ERR_PROTO_TRUNCATED_FRAME')
    }
    expect((await runAsync(new GzipMemberDecoder(), [])).frames).toEqual([])
  })

  it('stops a gzip bomb at maxFrameBytes, whole or split', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024))
    for (const chunks of [[bomb], splitAt(bomb, [20, 1000, 5000])]) {
      const out = await runAsync(new GzipMemberDecoder({ maxFrameBytes: 1024 * 1024 }), chunks)
      expect(out.code).toBe('ERR_PROTO_FRAME_TOO_LARGE')
    }
  })

  it('accepts output at maxFrameBytes and refuses one byte more', async () => {
    for (const out of await decodeEveryway(zlib.gzipSync(Buffer.alloc(100, 1)), { maxFrameBytes: 100 })) {
      expect(out.frames.map((f) => f.length)).toEqual([100])
    }
    for (const out of await decodeEveryway(zlib.gzipSync(Buffer.alloc(101, 1)), { maxFrameBytes: 100 })) {
      expect(out.code).toBe('ERR_PROTO_FRAME_TOO_LARGE')
    }
  })

  it('accepts a member of maxCompressedBytes and refuses one byte more, holding no more', async () => {
    const m = member('0123456789abcdef', { name: 'x' })
    for (const out of await decodeEveryway(m, { maxCompressedBytes: m.length })) {
      expect(out.frames.map(String)).toEqual(['0123456789abcdef'])
    }
    for (const out of await decodeEveryway(m, { maxCompressedBytes: m.length - 1 })) {
      expect(out.code).toBe('ERR_PROTO_FRAME_TOO_LARGE')
      for (const b of out.buffered) expect(b).toBeLessThanOrEqual(m.length - 1)
    }
    const longName = member('x', { name: 'n'.repeat(100) })
    expect((await runAsync(new GzipMemberDecoder({ maxCompressedBytes: 50 }), [longName])).code).toBe(
      'ERR_PROTO_FRAME_TOO_LARGE',
    )
  })

  it('uses DEFAULT_MAX_COMPRESSED_BYTES by default', () => {
    expect(DEFAULT_MAX_COMPRESSED_BYTES).toBe(16_777_216)
    expect(() => new GzipMemberDecoder({ maxCompressedBytes: 17 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => new GzipMemberDecoder({ maxFrameBytes: -1 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it('goes on with a new decoder after a fault', async () => {
    const bad = new GzipMemberDecoder()
    await rejection(bad.push(Buffer.from('not gzip at all')))
    const good = new GzipMemberDecoder()
    expect((await good.push(zlib.gzipSync('next'))).map(String)).toEqual(['next'])
  })

  it('queues pushes that are not awaited', async () => {
    const decoder = new GzipMemberDecoder()
    const m = Buffer.concat([zlib.gzipSync('a'), zlib.gzipSync('b')])
    const results = await Promise.all(splitAt(m, [5, 15, 30]).map((c) => decoder.push(c)))
    expect(results.flat().map(String)).toEqual(['a', 'b'])
  })
})
