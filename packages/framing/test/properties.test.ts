import { Buffer } from 'node:buffer'
import zlib from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ByteQueue } from '../src/byte-queue.ts'
import { ByteReader } from '../src/byte-reader.ts'
import { isProtoError } from '../src/errors.ts'
import { GzipMemberDecoder } from '../src/gzip.ts'
import { LengthPrefixedDecoder, encodeLengthPrefixed } from '../src/length-prefixed.ts'
import { LineDecoder, encodeLine } from '../src/line.ts'
import { arbitraries } from '../src/testing/arbitraries.ts'
import { splitAt } from '../src/testing/chunkings.ts'
import { asyncChunks, hexes, numRuns, run, runAsync } from './helpers.ts'

const arb = arbitraries(fc)

/** Bytes rich in LFs and CRs, so lines of every shape turn up. */
const lineInput = fc
  .array(fc.oneof(fc.constant(0x0a), fc.constant(0x0d), fc.integer({ min: 0, max: 255 })), { maxLength: 300 })
  .map((v) => Buffer.from(v))

const lineInit = fc.record({
  maxLineBytes: fc.integer({ min: 0, max: 40 }),
  stripCR: fc.boolean(),
  trailing: fc.constantFrom('error' as const, 'emit' as const, 'discard' as const),
  copy: fc.boolean(),
})

/** Length-prefixed input that is mostly well formed, with faults now and then. */
const prefixedInput = arb.lengthPrefixInit().chain((layout) =>
  fc.record({
    layout: fc.constant(layout),
    maxFrameBytes: fc.integer({ min: 0, max: 64 }),
    input: fc
      .array(fc.oneof({ weight: 4, arbitrary: arb.bytes(48).map((p) => ({ p, ok: true })) }, arb.bytes(12).map((p) => ({ p, ok: false }))), {
        maxLength: 8,
      })
      .map((parts) =>
        Buffer.concat(parts.map(({ p, ok }) => (ok ? encodeLengthPrefixed(p, { ...layout, maxFrameBytes: 2 ** 32 }) : p))),
      ),
  }),
)

/**
 * `bytes` as a chunk may come: in an ArrayBuffer of its own with `before` and `after` bytes of
 * room around it, so that some chunks are worth keeping as they came and some are not.
 */
function placed(bytes: Uint8Array, before: number, after: number): Buffer {
  const backing = Buffer.alloc(before + bytes.length + after, 0xee)
  backing.set(bytes, before)
  return backing.subarray(before, before + bytes.length)
}

/** Cuts of `length` bytes into chunks of a few bytes and of several KiB, each placed with room around it. */
const placedCuts = (length: number) =>
  fc.array(
    fc.record({
      size: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 3000, max: 9000 })),
      before: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 12_000 })),
      after: fc.integer({ min: 0, max: 16 }),
    }),
    { maxLength: Math.ceil(length / 1000) + 8 },
  )

function placedChunks(input: Buffer, cuts: readonly { size: number; before: number; after: number }[]): Buffer[] {
  const chunks: Buffer[] = []
  let at = 0
  for (const { size, before, after } of cuts) {
    if (at >= input.length) break
    chunks.push(placed(input.subarray(at, at + size), before, after))
    at += size
  }
  if (at < input.length) chunks.push(placed(input.subarray(at), 0, 0))
  return chunks
}

describe('properties', () => {
  it('ByteQueue: any chunks, placed anyhow, read back in order whatever the reads', () => {
    const push = fc.record({
      op: fc.constant('push' as const),
      size: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 3000, max: 9000 })),
      before: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 12_000 })),
      after: fc.integer({ min: 0, max: 16 }),
    })
    const read = fc.record({
      op: fc.constantFrom('take' as const, 'takeUpTo' as const, 'takeInto' as const, 'skip' as const),
      n: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 20_000 })),
    })
    const small = fc.record({ op: fc.constantFrom('u8' as const, 'u16' as const, 'u32' as const, 'compact' as const) })
    fc.assert(
      fc.property(fc.array(fc.oneof({ weight: 3, arbitrary: push }, read, small), { maxLength: 60 }), (ops) => {
        const q = new ByteQueue()
        // What went in, and how much of it has been read.
        const model: number[] = []
        let at = 0
        let next = 0
        const expectNext = (bytes: Uint8Array): void => {
          expect(Buffer.from(bytes).equals(Buffer.from(model.slice(at, at + bytes.length)))).toBe(true)
          at += bytes.length
        }
        for (const o of ops) {
          const left = model.length - at
          switch (o.op) {
            case 'push': {
              const bytes = Buffer.alloc(o.size)
              for (let i = 0; i < o.size; i++) {
                bytes[i] = next
                model.push(next)
                next = (next * 7 + 13) & 0xff
              }
              q.push(placed(bytes, o.before, o.after))
              break
            }
            case 'take':
              if (o.n > left) expect(() => q.take(o.n)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
              else expectNext(q.take(o.n))
              break
            case 'takeUpTo': {
              const piece = q.takeUpTo(o.n)
              expect(piece.length).toBeLessThanOrEqual(o.n)
              if (o.n > 0 && left > 0) expect(piece.length).toBeGreaterThan(0)
              expectNext(piece)
              break
            }
            case 'takeInto': {
              const target = Buffer.alloc(o.n)
              const moved = q.takeInto(target)
              expect(moved).toBe(Math.min(o.n, left))
              expectNext(target.subarray(0, moved))
              break
            }
            case 'skip':
              if (o.n > left) expect(() => q.skip(o.n)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
              else {
                q.skip(o.n)
                at += o.n
              }
              break
            case 'u8':
              if (left >= 1) expectNext(Buffer.from([q.u8()]))
              break
            case 'u16':
              if (left >= 2) {
                const bytes = Buffer.alloc(2)
                bytes.writeUInt16BE(q.u16())
                expectNext(bytes)
              }
              break
            case 'u32':
              if (left >= 4) {
                const bytes = Buffer.alloc(4)
                bytes.writeUInt32BE(q.u32())
                expectNext(bytes)
              }
              break
            case 'compact':
              q.compact()
              break
          }
          expect(q.length).toBe(model.length - at)
        }
        expectNext(q.take(q.length))
      }),
      { numRuns },
    )
  })

  it('LineDecoder and LengthPrefixedDecoder: long frames in chunks of any size and placement decode the same', () => {
    const longLines = fc.array(fc.oneof(arb.line(20), arb.line(12_000)), { minLength: 1, maxLength: 4 })
    fc.assert(
      fc.property(
        longLines.chain((lines) => {
          const wire = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]))
          return fc.tuple(fc.constant(lines), fc.constant(wire), placedCuts(wire.length), fc.boolean())
        }),
        ([lines, wire, cuts, copy]) => {
          const out = run(new LineDecoder({ maxLineBytes: 12_000, copy }), placedChunks(wire, cuts))
          expect(out.code).toBeUndefined()
          expect(hexes(out.frames)).toEqual(hexes(lines))
        },
      ),
      { numRuns: Math.max(1, Math.ceil(numRuns / 4)) },
    )
    fc.assert(
      fc.property(
        fc.array(arb.bytes(12_000), { minLength: 1, maxLength: 4 }).chain((payloads) => {
          const wire = Buffer.concat(payloads.map((p) => encodeLengthPrefixed(p)))
          return fc.tuple(fc.constant(payloads), fc.constant(wire), placedCuts(wire.length), fc.boolean())
        }),
        ([payloads, wire, cuts, copy]) => {
          const out = run(new LengthPrefixedDecoder({ copy }), placedChunks(wire, cuts))
          expect(out.code).toBeUndefined()
          expect(hexes(out.frames)).toEqual(hexes(payloads))
        },
      ),
      { numRuns: Math.max(1, Math.ceil(numRuns / 4)) },
    )
  })

  it('LineDecoder: any chunking gives the same lines, then the same error, within the limit', () => {
    fc.assert(
      fc.property(lineInput, lineInit, (input, init) => {
        const whole = run(new LineDecoder(init), [input])
        const bytewise = run(new LineDecoder(init), splitAt(input, Array.from({ length: input.length }, (_v, i) => i)))
        expect(hexes(bytewise.frames)).toEqual(hexes(whole.frames))
        expect(bytewise.code).toBe(whole.code)
        for (const b of bytewise.buffered) expect(b).toBeLessThanOrEqual(init.maxLineBytes)
      }),
      { numRuns },
    )
    fc.assert(
      fc.property(lineInput.chain((input) => fc.tuple(fc.constant(input), arb.chunked(input))), lineInit, ([input, chunks], init) => {
        const whole = run(new LineDecoder(init), [input])
        const split = run(new LineDecoder(init), chunks)
        expect(hexes(split.frames)).toEqual(hexes(whole.frames))
        expect(split.code).toBe(whole.code)
      }),
      { numRuns },
    )
  })

  it('LengthPrefixedDecoder: any chunking gives the same frames, then the same error, within the limit', () => {
    fc.assert(
      fc.property(prefixedInput.chain((c) => fc.tuple(fc.constant(c), arb.chunked(c.input))), ([c, chunks]) => {
        const init = { ...c.layout, maxFrameBytes: c.maxFrameBytes }
        const whole = run(new LengthPrefixedDecoder(init), [c.input])
        const split = run(new LengthPrefixedDecoder(init), chunks)
        expect(hexes(split.frames)).toEqual(hexes(whole.frames))
        expect(split.code).toBe(whole.code)
        for (const b of split.buffered) expect(b).toBeLessThanOrEqual(c.maxFrameBytes + c.layout.prefixBytes)
      }),
      { numRuns },
    )
  })

  it('GzipMemberDecoder: any chunking gives the same members, then the same error', async () => {
    const members = fc
      .array(fc.oneof({ weight: 3, arbitrary: arb.bytes(300).map((b) => zlib.gzipSync(b)) }, arb.bytes(20)), { maxLength: 4 })
      .map((parts) => Buffer.concat(parts))
    await fc.assert(
      fc.asyncProperty(members.chain((input) => fc.tuple(fc.constant(input), arb.chunked(input))), async ([input, chunks]) => {
        const whole = await runAsync(new GzipMemberDecoder(), [input])
        const split = await runAsync(new GzipMemberDecoder(), chunks)
        expect(hexes(split.frames)).toEqual(hexes(whole.frames))
        expect(split.code).toBe(whole.code)
      }),
      { numRuns: Math.max(1, Math.ceil(numRuns / 4)) },
    )
  })

  it('decode(encode(x)) = x for lines', () => {
    fc.assert(
      fc.property(arb.lines(), fc.boolean(), (lines, crlf) => {
        const wire = Buffer.concat(lines.map((l) => encodeLine(l, { crlf })))
        const out = run(new LineDecoder({ stripCR: crlf }), [wire])
        expect(out.code).toBeUndefined()
        expect(hexes(out.frames)).toEqual(hexes(lines))
      }),
      { numRuns },
    )
  })

  it('decode(encode(x)) = x for length-prefixed frames, and canonical bytes re-encode to themselves', () => {
    fc.assert(
      fc.property(arb.lengthPrefixInit(), fc.array(arb.bytes(), { maxLength: 8 }), (layout, payloads) => {
        const wire = Buffer.concat(payloads.map((p) => encodeLengthPrefixed(p, layout)))
        const out = run(new LengthPrefixedDecoder(layout), [wire])
        expect(out.code).toBeUndefined()
        expect(hexes(out.frames)).toEqual(hexes(payloads))
        expect(Buffer.concat(out.frames.map((f) => encodeLengthPrefixed(f, layout))).equals(wire)).toBe(true)
      }),
      { numRuns },
    )
  })

  it('canonical LF-terminated lines re-encode to themselves', () => {
    fc.assert(
      fc.property(arb.lines(), (lines) => {
        const wire = Buffer.concat(lines.map((l) => Buffer.concat([l, Buffer.from('\n')])))
        const frames = new LineDecoder().push(wire)
        expect(Buffer.concat(frames.map((f) => encodeLine(f))).equals(wire)).toBe(true)
      }),
      { numRuns },
    )
  })

  it('random bytes throw only ProtoError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arb.bytes(64), { maxLength: 6 }), async (chunks) => {
        const decoders = [
          new LineDecoder({ maxLineBytes: 16 }),
          new LengthPrefixedDecoder({ maxFrameBytes: 32 }),
          new LengthPrefixedDecoder({ prefixBytes: 8, endian: 'le', lengthIncludesPrefix: true }),
        ]
        for (const decoder of decoders) run(decoder, chunks)
        await runAsync(new GzipMemberDecoder({ maxFrameBytes: 1024 }), chunks)
        const reader = new ByteReader(asyncChunks(chunks), { maxReadBytes: 64 })
        try {
          for (;;) {
            const n = await reader.u8()
            if (n % 3 === 0) await reader.bytes(await reader.u16())
            else if (n % 3 === 1) await reader.safeU64()
            else await reader.stream(n).skip()
          }
        } catch (err) {
          expect(isProtoError(err)).toBe(true)
        }
      }),
      { numRuns: Math.max(1, Math.ceil(numRuns / 2)) },
    )
  })

  it('ByteReader reads what Buffer#readUInt* reads, however the input is split', async () => {
    const op = fc.constantFrom('u8', 'u16be', 'u16le', 'u32be', 'u32le', 'u64be', 'u64le', 'bytes3', 'skip2')
    await fc.assert(
      fc.asyncProperty(
        arb.bytes(96).chain((buf) => fc.tuple(fc.constant(buf), arb.chunked(buf), fc.array(op, { maxLength: 24 }))),
        async ([buf, chunks, ops]) => {
          const reader = new ByteReader(asyncChunks(chunks))
          let at = 0
          for (const o of ops) {
            const width = { u8: 1, u16be: 2, u16le: 2, u32be: 4, u32le: 4, u64be: 8, u64le: 8, bytes3: 3, skip2: 2 }[o]
            if (at + width > buf.length) {
              await expect(reader.bytes(width)).rejects.toMatchObject({ code: 'ERR_PROTO_TRUNCATED_FRAME' })
              return
            }
            switch (o) {
              case 'u8':
                expect(await reader.u8()).toBe(buf.readUInt8(at))
                break
              case 'u16be':
                expect(await reader.u16()).toBe(buf.readUInt16BE(at))
                break
              case 'u16le':
                expect(await reader.u16('le')).toBe(buf.readUInt16LE(at))
                break
              case 'u32be':
                expect(await reader.u32('be')).toBe(buf.readUInt32BE(at))
                break
              case 'u32le':
                expect(await reader.u32('le')).toBe(buf.readUInt32LE(at))
                break
              case 'u64be':
                expect(await reader.u64()).toBe(buf.readBigUInt64BE(at))
                break
              case 'u64le':
                expect(await reader.u64('le')).toBe(buf.readBigUInt64LE(at))
                break
              case 'bytes3':
                expect((await reader.bytes(3)).equals(buf.subarray(at, at + 3))).toBe(true)
                break
              case 'skip2':
                await reader.skip(2)
                break
            }
            at += width
            expect(reader.position).toBe(at)
          }
        },
      ),
      { numRuns },
    )
  })
})
