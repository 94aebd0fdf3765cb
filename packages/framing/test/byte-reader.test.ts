import { Buffer } from 'node:buffer'
import process from 'node:process'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { ByteReader } from '../src/byte-reader.ts'
import { DEFAULT_FIELD_HIGH_WATER_MARK, DEFAULT_MAX_READ_BYTES } from '../src/constants.ts'
import { asyncChunks, hex, rejection, settled } from './helpers.ts'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

const chunksOf = (...chunks: string[]): AsyncGenerator<Buffer> => asyncChunks(chunks.map(hex))

/** A source that counts pulls, to show reads pull only when they need bytes. */
function counted(chunks: Buffer[]): { source: AsyncIterable<Buffer>; pulls: () => number } {
  let pulls = 0
  return {
    source: {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          const value = chunks[pulls]
          pulls += 1
          return Promise.resolve(value === undefined ? { done: true as const, value: undefined } : { done: false as const, value })
        },
      }),
    },
    pulls: () => pulls,
  }
}

describe('ByteReader', () => {
  it('reads integers and bytes across chunks and tracks its position', async () => {
    const r = new ByteReader(chunksOf('01 02', '03 0405', '06070809', '0a0b0c0d0e0f1011 12131415', '1617181900000000 0000', '6162'))
    expect(await r.u8()).toBe(1)
    expect(await r.u16()).toBe(0x0203)
    expect(await r.u32('le')).toBe(0x07060504)
    expect(await r.u64()).toBe(0x08090a0b0c0d0e0fn)
    expect(await r.u64('le')).toBe(0x1716151413121110n)
    expect(await r.safeU64('le')).toBe(0x1918)
    expect(r.position).toBe(31)
    expect(String(await r.bytes(1))).toBe('a')
    expect(await r.atEnd()).toBe(false)
    await r.skip(1)
    expect(await r.atEnd()).toBe(true)
    expect(r.position).toBe(33)
  })

  it('pulls only when a read needs bytes', async () => {
    const { source, pulls } = counted([hex('0102'), hex('03'), hex('04')])
    const r = new ByteReader(source)
    expect(pulls()).toBe(0)
    await r.u8()
    expect(pulls()).toBe(1)
    await r.u8()
    expect(pulls()).toBe(1)
    await r.u16()
    expect(pulls()).toBe(3)
  })

  it('serves reads in the order they were made, even when not awaited', async () => {
    const r = new ByteReader(chunksOf('01', '02', '0304', '05'))
    const reads = [r.u8(), r.u8(), r.u16(), r.u8()]
    expect(await Promise.all(reads)).toEqual([1, 2, 0x0304, 5])
  })

  it('fails reads past the end with ERR_PROTO_TRUNCATED_FRAME', async () => {
    const r = new ByteReader(chunksOf('0102'))
    expect(await rejection(r.u32())).toMatchObject({ code: 'ERR_PROTO_TRUNCATED_FRAME', received: 2, expected: 4 })
    expect(await rejection(new ByteReader(chunksOf('01')).skip(2))).toMatchObject({ code: 'ERR_PROTO_TRUNCATED_FRAME' })
    expect(await rejection(new ByteReader(chunksOf()).u8())).toMatchObject({ code: 'ERR_PROTO_TRUNCATED_FRAME' })
  })

  it('refuses bytes(n) over maxReadBytes before reading anything', async () => {
    expect(DEFAULT_MAX_READ_BYTES).toBe(16_777_216)
    const { source, pulls } = counted([hex('01')])
    const r = new ByteReader(source, { maxReadBytes: 4 })
    expect(await rejection(r.bytes(5))).toMatchObject({ code: 'ERR_PROTO_FRAME_TOO_LARGE', size: 5, limit: 4 })
    expect(pulls()).toBe(0)
    expect(await rejection(new ByteReader(chunksOf()).bytes(DEFAULT_MAX_READ_BYTES + 1))).toMatchObject({
      code: 'ERR_PROTO_FRAME_TOO_LARGE',
    })
    expect(await rejection(r.bytes(-1))).toMatchObject({ code: 'ERR_PROTO_USAGE' })
    expect(await rejection(r.skip(0.5))).toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('refuses a u64 above 2^53 - 1 in safeU64 with ERR_PROTO_BAD_LENGTH', async () => {
    expect(await rejection(new ByteReader(chunksOf('ffffffffffffffff')).safeU64())).toMatchObject({
      code: 'ERR_PROTO_BAD_LENGTH',
      value: 2n ** 64n - 1n,
    })
  })

  it('rejects with signal.reason on abort', async () => {
    const controller = new AbortController()
    const never: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }) }
    const r = new ByteReader(never, { signal: controller.signal })
    const read = r.u8()
    expect(await settled(read)).toBe(false)
    const reason = new Error('stop')
    controller.abort(reason)
    expect(await rejection(read)).toBe(reason)
    expect(await rejection(r.u8())).toBe(reason)
  })

  describe('stream(n)', () => {
    it('yields the field piece by piece, then reads go on', async () => {
      const r = new ByteReader(chunksOf('03 6162', '63', '6465 66', '07'))
      expect(await r.u8()).toBe(3)
      const field = r.stream(5)
      expect(field.size).toBe(5)
      const pieces: string[] = []
      for await (const piece of field) pieces.push(String(piece))
      expect(pieces).toEqual(['ab', 'c', 'de'])
      expect(field.remaining).toBe(0)
      expect(await r.u8()).toBe(0x66)
      expect(await r.u8()).toBe(7)
    })

    it('refuses other reads until the field is consumed or skipped', async () => {
      const r = new ByteReader(chunksOf('616263 01'))
      const field = r.stream(3)
      expect(await rejection(r.u8())).toMatchObject({ code: 'ERR_PROTO_USAGE' })
      expect(() => r.stream(1)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
      await field.skip()
      expect(await r.u8()).toBe(1)
    })

    it('skips the rest when for await is left early', async () => {
      const r = new ByteReader(chunksOf('61', '62', '63', '09'))
      for await (const piece of r.stream(3)) {
        expect(String(piece)).toBe('a')
        break
      }
      expect(await r.u8()).toBe(9)
    })

    it('fails with ERR_PROTO_TRUNCATED_FRAME when the source ends inside it', async () => {
      const r = new ByteReader(chunksOf('6162'))
      const field = r.stream(5)
      const err = await rejection((async () => {
        for await (const _ of field) void _
      })())
      expect(err).toMatchObject({ code: 'ERR_PROTO_TRUNCATED_FRAME', received: 2, expected: 5 })
    })

    it('is empty for n = 0 and leaves reads open', async () => {
      const r = new ByteReader(chunksOf('01'))
      const field = r.stream(0)
      for await (const _ of field) expect.unreachable()
      expect(await r.u8()).toBe(1)
    })

    it('gives its Readable the default high-water mark of DEFAULT_FIELD_HIGH_WATER_MARK', () => {
      expect(DEFAULT_FIELD_HIGH_WATER_MARK).toBe(65_536)
      const field = new ByteReader(chunksOf('00')).stream(1)
      expect(field.readable().readableHighWaterMark).toBe(DEFAULT_FIELD_HIGH_WATER_MARK)
      expect(() => field.readable({ highWaterMark: 0 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    })

    it('gives a Readable that ends after the field', async () => {
      const r = new ByteReader(chunksOf('6162', '6364', '09'))
      const readable = r.stream(4).readable({ highWaterMark: 2 })
      const seen: string[] = []
      await pipeline(readable, new Writable({ write: (chunk: Buffer, _e, cb) => (seen.push(String(chunk)), cb()) }))
      expect(seen.join('')).toBe('abcd')
      expect(await r.u8()).toBe(9)
    })

    it('streams a 256 MiB field read slowly within one chunk plus a high-water mark', async () => {
      const chunk = Buffer.alloc(64 * 1024, 1)
      const total = 256 * 1024 * 1024
      let produced = 0
      // Each chunk is a fresh copy, as from a socket; an unbounded reader would hold them all.
      function* source(): Generator<Buffer> {
        for (; produced < total; produced += chunk.length) yield Buffer.from(chunk)
      }
      // Readings come after a full collection, so only what the reader keeps alive counts,
      // whatever the engine's collection schedule.
      const gc = exposeGc()
      gc()
      const baseline = process.memoryUsage().arrayBuffers
      let peak = 0
      let pulledAhead = 0
      let seen = 0
      const r = new ByteReader(asyncChunks(source()))
      let n = 0
      for await (const piece of r.stream(total)) {
        seen += piece.length
        pulledAhead = Math.max(pulledAhead, produced - seen)
        if (++n % 256 === 0) {
          gc()
          peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline)
          await new Promise((resolve) => setImmediate(resolve))
        }
      }
      expect(seen).toBe(total)
      // The reader pulls a chunk only once the previous one is consumed: the bound that holds
      // whatever the collector does. The reading below is a sanity check against leaks.
      expect(pulledAhead).toBeLessThanOrEqual(chunk.length)
      expect(peak).toBeLessThan(64 * 1024 * 1024)
    })
  })
})

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

