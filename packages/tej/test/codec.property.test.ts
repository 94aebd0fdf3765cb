import { Buffer } from 'node:buffer'
import { randomChunkings, splitAt } from '@proto/framing/testing'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TejDecoder, decodeFrame, encodeFrame } from '../src/codec.ts'
import type { TejDecodeEvent, TejFrame } from '../src/types.ts'
import { pseudoRandomBytes } from './helpers.ts'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)

/** Bytes of a length up to `max`, filled from a seed: cheap even for large sizes. */
const bytesUpTo = (max: number): fc.Arbitrary<Buffer> =>
  fc.tuple(fc.nat(max), fc.integer()).map(([length, seed]) => pseudoRandomBytes(length, seed))

/** Names of any Unicode, astral code points included. */
const name = fc.string({ unit: 'binary', maxLength: 24 })

const frameOf = (maxData: number, maxMessage: number): fc.Arbitrary<TejFrame> =>
  fc.record({
    status: fc.integer({ min: 0, max: 127 }),
    files: fc.array(fc.record({ name, data: bytesUpTo(maxData) }), { maxLength: 8 }),
    message: bytesUpTo(maxMessage),
  })

/**
 * Asserts two lists of frames are equal: the shapes with `toEqual`, for a readable diff, and the
 * bytes with `Buffer.compare`, since deep equality on large buffers is slow.
 */
function expectSameFrames(actual: TejFrame[], expected: TejFrame[]): void {
  const shape = (f: TejFrame): unknown => ({
    status: f.status,
    files: f.files.map((file) => [file.name, file.data.length]),
    message: f.message.length,
  })
  expect(actual.map(shape)).toEqual(expected.map(shape))
  for (const [i, frame] of actual.entries()) {
    const other = expected[i] ?? expect.unreachable()
    for (const [j, file] of frame.files.entries()) expect(Buffer.compare(file.data, other.files[j]?.data ?? Buffer.alloc(0))).toBe(0)
    expect(Buffer.compare(frame.message, other.message)).toBe(0)
  }
}

/** Frames rebuilt from decoder events, copying the views. */
function framesOf(events: TejDecodeEvent[]): TejFrame[] {
  const frames: TejFrame[] = []
  let current: TejFrame | undefined
  let pieces: Buffer[] = []
  const closeFile = (): void => {
    const file = current?.files.at(-1)
    if (file !== undefined && pieces.length > 0) file.data = Buffer.concat(pieces)
    pieces = []
  }
  for (const event of events) {
    switch (event.type) {
      case 'frame':
        current = { status: event.status, files: [], message: Buffer.alloc(0) }
        break
      case 'file':
        closeFile()
        current?.files.push({ name: event.name, data: Buffer.alloc(0) })
        break
      case 'data':
        pieces.push(Buffer.from(event.chunk))
        break
      case 'message':
        closeFile()
        if (current === undefined) return expect.unreachable('message before frame')
        current.message = Buffer.from(event.data)
        frames.push(current)
        break
    }
  }
  return frames
}

function decodeChunks(chunks: readonly Uint8Array[]): TejFrame[] {
  const decoder = new TejDecoder()
  const events: TejDecodeEvent[] = []
  for (const chunk of chunks) events.push(...decoder.push(chunk))
  events.push(...decoder.end())
  return framesOf(events)
}

describe('codec properties', () => {
  it('decode(encode(f)) = f for frames with up to 256 KiB files and a 64 KiB message', () => {
    fc.assert(
      fc.property(frameOf(262_144, 65_536), (frame) => {
        const bytes = encodeFrame(frame)
        const { frame: decoded, bytesRead } = decodeFrame(bytes)
        expect(bytesRead).toBe(bytes.length)
        expectSameFrames([decoded], [frame])
      }),
      { numRuns },
    )
  })

  it('TejDecoder gives the same frames under random chunkings of large frames', () => {
    fc.assert(
      fc.property(
        fc.array(frameOf(262_144, 65_536), { minLength: 1, maxLength: 3 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 24 }),
        (frames, cuts) => {
          const bytes = Buffer.concat(frames.map(encodeFrame))
          const offsets = [0, ...cuts.map((c) => Math.floor(c * bytes.length)).sort((x, y) => x - y), bytes.length]
          expectSameFrames(decodeChunks(splitAt(bytes, offsets)), frames)
        },
      ),
      { numRuns },
    )
  })

  it('TejDecoder gives the same frames under any chunking down to single bytes', () => {
    fc.assert(
      fc.property(fc.array(frameOf(64, 64), { minLength: 1, maxLength: 3 }), fc.integer(), (frames, seed) => {
        const bytes = Buffer.concat(frames.map(encodeFrame))
        for (const chunks of randomChunkings(bytes, seed, 4)) expectSameFrames(decodeChunks(chunks), frames)
      }),
      { numRuns },
    )
  })

  it('writes each name length as the UTF-8 byte count of the name', () => {
    fc.assert(
      fc.property(name, bytesUpTo(16), (fileName, data) => {
        const bytes = Buffer.from(encodeFrame({ status: 0, files: [{ name: fileName, data }], message: Buffer.alloc(0) }))
        const nameBytes = Buffer.from(fileName, 'utf8')
        expect(bytes.readUInt16BE(10)).toBe(nameBytes.length)
        expect(bytes.subarray(12, 12 + nameBytes.length)).toEqual(nameBytes)
      }),
      { numRuns },
    )
  })

  it('canonical bytes re-encode to themselves', () => {
    fc.assert(
      fc.property(frameOf(1024, 1024), (frame) => {
        const bytes = Buffer.from(encodeFrame(frame))
        expect(Buffer.compare(encodeFrame(decodeFrame(bytes).frame), bytes)).toBe(0)
      }),
      { numRuns },
    )
  })

  it('random bytes only ever raise TEJ errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, validHead) => {
        const input = Buffer.from(bytes)
        if (validHead && input.length >= 2) {
          input[0] = (input[0] ?? 0) | 0x80
          input[1] = 1
        }
        const decoder = new TejDecoder({ maxFiles: 4, maxNameBytes: 16, maxFileBytes: 64, maxMessageBytes: 64 })
        try {
          decoder.push(input)
          decoder.end()
        } catch (err) {
          expect((err as { code?: string }).code).toMatch(/^ERR_TEJ_/)
        }
      }),
      { numRuns },
    )
  })
})
