import { Buffer } from 'node:buffer'
import process from 'node:process'
import v8 from 'node:v8'
import vm from 'node:vm'
import zlib from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { GzipMemberDecoder } from '../src/gzip.ts'

// A collected heap before each reading, so that only what the decoder holds is counted.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

function retained(): number {
  gc()
  gc()
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return heapUsed + arrayBuffers
}

const LIMIT = 16 * 1024
// What a reading moves by without the decoder holding anything: the heap's own bookkeeping, and
// code compiled in the background, which lands later on a loaded machine (a reading of 188 KiB
// in all, 156 KiB over the blocks, was seen with both cores busy). An object per byte received
// would hold more than a MiB.
const NOISE = 256 * 1024
// Text of sixteen letters, which Huffman coding packs into about four bits a letter.
const text = Buffer.from(Array.from({ length: 15 * 1024 }, (_, i) => 'abcdefghijklmnop'[(i * 7 + (i >> 5)) % 16]).join(''))

/** Pushes `member` up to `end` one byte at a time; returns the frames that came out. */
async function feed(decoder: GzipMemberDecoder, member: Buffer, end: number): Promise<number> {
  let frames = 0
  for (let at = 0; at < end; at++) frames += (await decoder.push(member.subarray(at, at + 1))).length
  return frames
}

describe('GzipMemberDecoder memory', () => {
  it.each<[string, Buffer]>([
    ['stored blocks', zlib.gzipSync(text, { level: 0 })],
    ['Huffman-coded blocks', zlib.gzipSync(text, { strategy: zlib.constants.Z_HUFFMAN_ONLY })],
    ['a stored block, then Huffman-coded ones', (() => {
      const head = text.subarray(0, 5000)
      const tail = zlib.deflateRawSync(text.subarray(head.length), { strategy: zlib.constants.Z_HUFFMAN_ONLY, dictionary: head })
      const blockHeader = Buffer.from([0, 0, 0, 0, 0])
      blockHeader.writeUInt16LE(head.length, 1)
      blockHeader.writeUInt16LE(head.length ^ 0xffff, 3)
      const trailer = Buffer.alloc(8)
      trailer.writeUInt32LE(zlib.crc32(text), 0)
      trailer.writeUInt32LE(text.length, 4)
      return Buffer.concat([zlib.gzipSync('').subarray(0, 10), blockHeader, head, tail, trailer])
    })()],
  ])('holds about what it received of %s sent one byte at a time, not an object per byte', async (_name, member) => {
    expect(zlib.gunzipSync(member).equals(text)).toBe(true)
    expect(member.length).toBeLessThanOrEqual(LIMIT)
    const upToTrailer = member.length - 8
    const init = { maxFrameBytes: LIMIT, maxCompressedBytes: LIMIT }
    // A first pass through the same code, so that what is compiled on the way is not counted.
    const warm = new GzipMemberDecoder(init)
    await feed(warm, member, upToTrailer)
    await warm.end().catch(() => undefined)
    const decoder = new GzipMemberDecoder(init)
    const before = retained()
    try {
      const early = await feed(decoder, member, upToTrailer)
      const held = retained() - before
      expect(early).toBe(0)
      expect(decoder.buffered).toBe(upToTrailer)
      expect(held).toBeLessThan(2 * LIMIT + NOISE)
      const [frame] = await decoder.push(member.subarray(upToTrailer))
      expect(frame?.equals(text)).toBe(true)
    } finally {
      // Frees what a failed case holds before the next one takes its readings.
      await decoder.end().catch(() => undefined)
    }
  })
})
