import { Buffer } from 'node:buffer'
import zlib from 'node:zlib'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DEFAULT_MAX_COMPRESSED_BYTES } from '../src/constants.ts'
import { GzipMemberDecoder } from '../src/gzip.ts'
import { arbitraries } from '../src/testing/arbitraries.ts'
import { randomChunkings, splitAt } from '../src/testing/chunkings.ts'
import { hexes, numRuns, rejection, runAsync } from './helpers.ts'

interface MemberInit {
  extra?: Buffer
  name?: string
  comment?: string
  hcrc?: boolean
  flags?: number
  method?: number
  /** The raw deflate body; `deflateRawSync(data)` if not given. */
  body?: Buffer
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
  return Buffer.concat([header, init.body ?? zlib.deflateRawSync(payload), trailer])
}

/**
 * Raw deflate stored blocks (BTYPE 00) holding `data`: one of each of `sizes` bytes (fewer when
 * the data runs out), then one with the rest, empty or not. `padding` fills the five bits after
 * BFINAL and BTYPE, which inflaters ignore; `final` false leaves the last block open for another
 * block to follow.
 */
function storedBlocks(data: Buffer, sizes: number[] = [], { padding = 0, final = true } = {}): Buffer {
  const parts: Buffer[] = []
  let at = 0
  const block = (bytes: Buffer, last: boolean): void => {
    const header = Buffer.alloc(5)
    header[0] = (last && final ? 1 : 0) | ((padding & 0x1f) << 3)
    header.writeUInt16LE(bytes.length, 1)
    header.writeUInt16LE(bytes.length ^ 0xffff, 3)
    parts.push(header, bytes)
  }
  for (const size of sizes) {
    const bytes = data.subarray(at, at + size)
    at += bytes.length
    block(bytes, false)
  }
  if (data.length - at > 65_535) throw new Error('data longer than the blocks')
  block(data.subarray(at), true)
  return Buffer.concat(parts)
}

/** `head` in stored blocks, then `tail` deflated with `head` as its history: blocks that refer back across the switch. */
function storedThenDeflated(head: Buffer, tail: Buffer, options: zlib.ZlibOptions = {}, sizes: number[] = []): Buffer {
  return Buffer.concat([storedBlocks(head, sizes, { final: false }), zlib.deflateRawSync(tail, { ...options, dictionary: head })])
}

/**
 * A last fixed-Huffman block (RFC 1951 §3.2.6) holding one match of 258 bytes from 32 768 bytes
 * back, the farthest deflate allows and farther than zlib's compressor ever reaches.
 */
function farthestMatch(): Buffer {
  const bytes: number[] = []
  let bits = 0
  let count = 0
  const put = (value: number, n: number): void => {
    bits |= value << count
    count += n
    while (count >= 8) {
      bytes.push(bits & 0xff)
      bits >>>= 8
      count -= 8
    }
  }
  // Huffman codes go most significant bit first.
  const code = (value: number, n: number): void => {
    for (let i = n - 1; i >= 0; i--) put((value >> i) & 1, 1)
  }
  put(1, 1) // BFINAL
  put(1, 2) // BTYPE 01, fixed codes
  code(0b1100_0101, 8) // length code 285: 258 bytes
  code(29, 5) // distance code 29: 24 577 and up, 13 extra bits
  put(32_768 - 24_577, 13)
  code(0, 7) // end of block
  if (count > 0) bytes.push(bits)
  return Buffer.from(bytes)
}

/** Bytes that do not compress, the same each time. */
function noise(length: number, seed = 1): Buffer {
  let x = seed
  return Buffer.from(Array.from({ length }, () => (x = (x * 48_271) % 2_147_483_647) & 0xff))
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
    ['one stored block', member('stored', { body: storedBlocks(Buffer.from('stored')) }), ['stored']],
    ['an empty stored block', member('', { body: storedBlocks(Buffer.alloc(0)) }), ['']],
    ['stored blocks of 0, 1 and 3 bytes', member('abcd', { body: storedBlocks(Buffer.from('abcd'), [0, 1, 0, 3]) }), ['abcd']],
    ['stored blocks with padding bits set', member('pad', { body: storedBlocks(Buffer.from('pad'), [1], { padding: 0x1f }) }), ['pad']],
    ['stored blocks of 150 KiB', member(Buffer.alloc(150 * 1024, 'xy'), { body: storedBlocks(Buffer.alloc(150 * 1024, 'xy'), [65_535, 65_535]) }), [Buffer.alloc(150 * 1024, 'xy').toString()]],
    ['zlib level 0', zlib.gzipSync(Buffer.alloc(70_000, 'z'), { level: 0 }), ['z'.repeat(70_000)]],
    ['a stored block, then a deflated one that refers back to it', member('hello world, hello world', { body: storedThenDeflated(Buffer.from('hello world'), Buffer.from(', hello world')) }), ['hello world, hello world']],
    ...((): [string, Buffer, string[]][] => {
      const head = noise(70_000)
      // Both refer to the first of the two stored blocks, which a split input brings in pieces.
      const near = head.subarray(70_000 - 32_400, 70_000 - 32_400 + 1000)
      const far = head.subarray(70_000 - 32_768, 70_000 - 32_768 + 258)
      return [
        ['stored blocks of 70 KB, then a deflated one that refers back 32 400 bytes', member(Buffer.concat([head, near]), { body: storedThenDeflated(head, near, {}, [40_000]) }), [Buffer.concat([head, near]).toString()]],
        ['stored blocks of 70 KB, then a match from 32 768 bytes back', member(Buffer.concat([head, far]), { body: Buffer.concat([storedBlocks(head, [40_000], { final: false }), farthestMatch()]) }), [Buffer.concat([head, far]).toString()]],
      ]
    })(),
    ['a deflated block, then a stored one', member('deflated, stored', { body: Buffer.concat([zlib.deflateRawSync('deflated, ', { finishFlush: zlib.constants.Z_SYNC_FLUSH }), storedBlocks(Buffer.from('stored'))]) }), ['deflated, stored']],
    ['stored and Python-style members coalesced', Buffer.concat([member('one', { body: storedBlocks(Buffer.from('one')) }), zlib.gzipSync('two', { level: 9 }), member('three', { body: storedBlocks(Buffer.from('three'), [2]) })]), ['one', 'two', 'three']],
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
    ['a stored block whose NLEN is not the complement of LEN', (() => {
      const body = storedBlocks(Buffer.from('hello'))
      body[3] = (body[3] ?? 0) ^ 1
      return member('hello', { body })
    })()],
    ['a wrong CRC-32 after stored blocks', (() => {
      const m = member('hello', { body: storedBlocks(Buffer.from('hello'), [2]) })
      m[m.length - 8] = (m[m.length - 8] ?? 0) ^ 1
      return m
    })()],
    ['a wrong ISIZE after stored blocks', (() => {
      const m = member('hello', { body: storedBlocks(Buffer.from('hello')) })
      m[m.length - 4] = (m[m.length - 4] ?? 0) + 1
      return m
    })()],
    ['a reserved block type after a stored block', member('ab', { body: Buffer.concat([storedBlocks(Buffer.from('a'), [], { final: false }), Buffer.from([0x07, 0x00])]) })],
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

  describe('stored blocks', () => {
    afterEach(() => {
      vi.restoreAllMocks()
    })

    it('are copied, never inflated, whole or split', async () => {
      const inflateRawSync = vi.spyOn(zlib, 'inflateRawSync')
      const createInflateRaw = vi.spyOn(zlib, 'createInflateRaw')
      const data = Buffer.alloc(100_000, 'stored ')
      const input = Buffer.concat([member(data, { body: storedBlocks(data, [40_000]) }), member('x', { body: storedBlocks(Buffer.from('x'), [], { padding: 0x15 }) })])
      for (const out of await decodeEveryway(input)) expect(out.frames.map(String)).toEqual([data.toString(), 'x'])
      expect(inflateRawSync).not.toHaveBeenCalled()
      expect(createInflateRaw).not.toHaveBeenCalled()
      // The same decoder still inflates a member that needs it.
      expect((await new GzipMemberDecoder().push(zlib.gzipSync('deflated'))).map(String)).toEqual(['deflated'])
      expect(inflateRawSync).toHaveBeenCalledTimes(1)
    })

    it('return a frame of their own, not a view of the input', async () => {
      const input = member('mine', { body: storedBlocks(Buffer.from('mine')) })
      const [frame] = await new GzipMemberDecoder().push(input)
      input.fill(0)
      expect(frame?.toString()).toBe('mine')
    })

    it('over maxFrameBytes are refused from their header, before their bytes arrive', async () => {
      const data = Buffer.alloc(1000, 'a')
      const input = member(data, { body: storedBlocks(data, [600]) })
      const decoder = new GzipMemberDecoder({ maxFrameBytes: 999 })
      // The header, the first block, and the second block's header: 600 + 400 > 999.
      expect(await decoder.push(input.subarray(0, 10 + 5 + 600))).toEqual([])
      expect(await rejection(decoder.push(input.subarray(10 + 5 + 600, 10 + 5 + 600 + 5)))).toMatchObject({
        code: 'ERR_PROTO_FRAME_TOO_LARGE',
        size: 1000,
        limit: 999,
      })
      for (const out of await decodeEveryway(input, { maxFrameBytes: 1000 })) expect(out.frames.map((f) => f.length)).toEqual([1000])
    })

    it('that cannot fit maxCompressedBytes are refused from their header', async () => {
      const data = Buffer.alloc(1000, 'a')
      const input = member(data, { body: storedBlocks(data) })
      expect(input.length).toBe(10 + 5 + 1000 + 8)
      const decoder = new GzipMemberDecoder({ maxCompressedBytes: input.length - 1 })
      expect(await rejection(decoder.push(input.subarray(0, 15)))).toMatchObject({ code: 'ERR_PROTO_FRAME_TOO_LARGE', size: input.length })
      for (const out of await decodeEveryway(input, { maxCompressedBytes: input.length })) expect(out.frames.map((f) => f.length)).toEqual([1000])
      // A block that is not the last needs at least one more byte for the next block's header.
      const open = member(data, { body: storedBlocks(data, [1000]) })
      expect(await rejection(new GzipMemberDecoder({ maxCompressedBytes: 10 + 5 + 1000 + 8 }).push(open.subarray(0, 15)))).toMatchObject({
        code: 'ERR_PROTO_FRAME_TOO_LARGE',
        size: 10 + 5 + 1000 + 1 + 8,
      })
    })
  })

  it('decodes any mix of stored, deflated and Python-style members the same however it is split', async () => {
    const arb = arbitraries(fc)
    const data = fc.oneof(arb.bytes(600), fc.string({ maxLength: 600 }).map((t) => Buffer.from(t.repeat(3))))
    const anyMember = fc.oneof(
      fc.tuple(data, fc.array(fc.nat(700), { maxLength: 4 }), fc.nat(31)).map(([d, sizes, padding]) => ({ data: d, input: member(d, { body: storedBlocks(d, sizes, { padding }) }) })),
      fc.tuple(data, fc.integer({ min: -1, max: 9 }), fc.constantFrom(zlib.constants.Z_DEFAULT_STRATEGY, zlib.constants.Z_FILTERED, zlib.constants.Z_HUFFMAN_ONLY, zlib.constants.Z_RLE, zlib.constants.Z_FIXED))
        .map(([d, level, strategy]) => ({ data: d, input: zlib.gzipSync(d, { level, strategy }) })),
      fc.tuple(data, data, fc.integer({ min: 1, max: 9 })).map(([head, tail, level]) => {
        const d = Buffer.concat([head, tail])
        return { data: d, input: member(d, { body: storedThenDeflated(head, tail, { level }) }) }
      }),
      // As Python's gzip.compress writes them: an mtime, XFL 2 and OS 255, level 9.
      data.map((d) => {
        const m = zlib.gzipSync(d, { level: 9 })
        m.writeUInt32LE(0x6b_02_eb_b2, 4)
        m[9] = 0xff
        return { data: d, input: m }
      }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.array(anyMember, { minLength: 1, maxLength: 4 }).chain((members) => {
          const input = Buffer.concat(members.map((m) => m.input))
          return fc.tuple(fc.constant(members.map((m) => m.data)), arb.chunked(input))
        }),
        async ([expected, chunks]) => {
          const out = await runAsync(new GzipMemberDecoder(), chunks)
          expect(out.code).toBeUndefined()
          expect(hexes(out.frames)).toEqual(hexes(expected))
        },
      ),
      { numRuns },
    )
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
