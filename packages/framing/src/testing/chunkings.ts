// randomChunkings and splitAt: the same bytes cut into chunks, for tests that any chunking decodes the same.
import type { Buffer } from 'node:buffer'
import { UsageError } from '../errors.ts'
import { toBuffer } from '../to-buffer.ts'

/**
 * `count` ways to cut `buf` into chunks, from `seed`: the whole buffer, 1-byte chunks, then
 * random cuts. The same seed gives the same chunkings. Chunks are views of `buf`.
 */
export function randomChunkings(buf: Uint8Array, seed: number, count = 8): Buffer[][] {
  if (!Number.isSafeInteger(count) || count < 2) throw new UsageError(`count must be an integer of at least 2, got ${count}`)
  const whole = toBuffer(buf)
  const random = mulberry32(seed)
  const chunkings: Buffer[][] = [[whole], splitAt(whole, Array.from({ length: Math.max(0, whole.length - 1) }, (_, i) => i + 1))]
  while (chunkings.length < count) {
    const offsets: number[] = []
    let at = 0
    // Mostly short chunks, now and then a long one, so prefixes and delimiters land anywhere.
    for (;;) {
      const r = random()
      at += r < 0.8 ? 1 + Math.floor(random() * 8) : 1 + Math.floor(random() * Math.max(1, whole.length / 2))
      if (at >= whole.length) break
      offsets.push(at)
    }
    chunkings.push(splitAt(whole, offsets))
  }
  return chunkings
}

/** `buf` cut at the given offsets (non-decreasing, from 0 to its length), as views. */
export function splitAt(buf: Uint8Array, offsets: readonly number[]): Buffer[] {
  const whole = toBuffer(buf)
  const pieces: Buffer[] = []
  let start = 0
  for (const offset of offsets) {
    if (!Number.isSafeInteger(offset) || offset < start || offset > whole.length) {
      throw new UsageError(`offsets must be non-decreasing integers from 0 to ${whole.length}, got ${offset}`)
    }
    pieces.push(whole.subarray(start, offset))
    start = offset
  }
  pieces.push(whole.subarray(start))
  return pieces
}

/** A small seeded generator; tests need repeatable cuts, not good randomness. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

