// arbitraries: fast-check generators for framing's inputs, built from the fast-check the caller passes.
import { Buffer } from 'node:buffer'
import type * as FastCheck from 'fast-check'
import type { Endian } from '../endian.ts'

/** The parts of fast-check used here; its namespace and its default export both fit. */
export type FastCheckLike = Pick<
  typeof FastCheck,
  'array' | 'boolean' | 'constant' | 'constantFrom' | 'integer' | 'oneof' | 'record' | 'uint8Array'
>

/** A length prefix layout as `lengthPrefixInit()` makes it. */
export interface PrefixLayout {
  prefixBytes: 1 | 2 | 4 | 8
  endian: Endian
  lengthIncludesPrefix: boolean
}

/** Generators for framing inputs; built from the caller's fast-check. */
export interface FramingArbitraries {
  /** Any bytes, up to `maxLength` (default 256). */
  bytes(maxLength?: number): FastCheck.Arbitrary<Buffer>
  /** Bytes without LF, up to `maxLength` (default 128), CR included now and then. */
  line(maxLength?: number): FastCheck.Arbitrary<Buffer>
  /** A list of lines, up to `maxCount` (default 16). */
  lines(maxCount?: number): FastCheck.Arbitrary<Buffer[]>
  /** Non-decreasing cut offsets for a buffer of `length` bytes, for `splitAt`. */
  offsets(length: number): FastCheck.Arbitrary<number[]>
  /** `buf` cut into random chunks. */
  chunked(buf: Uint8Array): FastCheck.Arbitrary<Buffer[]>
  /** `'be'` or `'le'`. */
  endian(): FastCheck.Arbitrary<Endian>
  /** A prefix layout: width, endian, and whether the length counts the prefix. */
  lengthPrefixInit(): FastCheck.Arbitrary<PrefixLayout>
}

/** Framing's generators, made with the `fast-check` the caller passes (framing does not depend on it). */
export function arbitraries(fc: FastCheckLike): FramingArbitraries {
  const bytes = (maxLength = 256): FastCheck.Arbitrary<Buffer> =>
    fc.uint8Array({ maxLength }).map((u) => Buffer.from(u))
  const line = (maxLength = 128): FastCheck.Arbitrary<Buffer> =>
    fc
      .array(fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 11, max: 255 }), fc.constant(0x0d)), { maxLength })
      .map((values) => Buffer.from(values))
  const offsets = (length: number): FastCheck.Arbitrary<number[]> =>
    fc.array(fc.integer({ min: 0, max: length }), { maxLength: Math.min(length, 64) }).map((o) => o.sort((x, y) => x - y))
  const endian = (): FastCheck.Arbitrary<Endian> => fc.constantFrom<Endian>('be', 'le')
  return {
    bytes,
    line,
    lines: (maxCount = 16) => fc.array(line(), { maxLength: maxCount }),
    offsets,
    chunked: (buf) => {
      const whole = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
      return offsets(whole.length).map((cuts) => {
        const pieces: Buffer[] = []
        let start = 0
        for (const cut of cuts) {
          pieces.push(whole.subarray(start, cut))
          start = cut
        }
        pieces.push(whole.subarray(start))
        return pieces
      })
    },
    endian,
    lengthPrefixInit: () =>
      fc.record({
        prefixBytes: fc.constantFrom<1 | 2 | 4 | 8>(1, 2, 4, 8),
        endian: endian(),
        lengthIncludesPrefix: fc.boolean(),
      }),
  }
}
