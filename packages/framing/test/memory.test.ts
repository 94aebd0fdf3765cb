// Memory under 1-byte segments. What the README promises: whatever the segmentation, an
// unfinished frame costs at most about twice its limit, ArrayBuffers and objects together.
// Before compaction, a 1-byte socket read kept cost some 200 bytes of heap, and a 1-byte slice
// of a 4 KiB read its 4 KiB.
import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import process from 'node:process'
import { Duplex } from 'node:stream'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { ByteReader } from '../src/byte-reader.ts'
import { FramedConnection } from '../src/connection.ts'
import { LengthPrefixedDecoder, encodeLengthPrefix } from '../src/length-prefixed.ts'
import { LineDecoder } from '../src/line.ts'
import { tcpPair } from '../src/testing/tcp-pair.ts'
import { asyncChunks } from './helpers.ts'

const MiB = 1_048_576
const KiB = 1024

const gc = exposeGc()

/** What JavaScript holds after a full collection: the V8 heap in use plus ArrayBuffers. */
function held(): number {
  collect()
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return heapUsed + arrayBuffers
}

/**
 * The ArrayBuffers alone, after a full collection: exact to the byte, where the heap moves by a
 * few hundred KiB from one reading to the next, so it measures small limits too.
 */
function arrayBufferBytes(): number {
  collect()
  return process.memoryUsage().arrayBuffers
}

function collect(): void {
  // The second pass frees what the first one's finalizers released.
  gc()
  gc()
}

/** 1 byte in an ArrayBuffer of its own, as `net.Socket` delivers a 1-byte read. */
const socketByte = (): Buffer => Buffer.allocUnsafeSlow(1).fill(0x61)

/** 1 byte viewing a 4 KiB ArrayBuffer of its own, as a parser's slice of a larger read. */
const sliceByte = (): Buffer => Buffer.allocUnsafeSlow(4 * KiB).fill(0x61, 0, 1).subarray(0, 1)

interface Growth {
  /** The largest growth of held memory read along the way. */
  peak: number
  /** Chunks pushed; fewer than asked when the bound was passed. */
  pushed: number
}

/** An attack: what to push into, what to push, how much, and how memory is read. */
interface Attack {
  /** Makes the target and returns how to push into it; called twice, for a first pass and for the reading. */
  target: () => (chunk: Buffer) => void
  chunk: () => Buffer
  count: number
  measure: () => number
  bound: number
}

/**
 * Pushes `count` chunks into a target, reading memory 4 times along the way. It stops once past
 * `bound`, so that a decoder keeping every chunk fails in seconds instead of filling the machine.
 * A smaller first pass into a throwaway target lets the engine compile the path before the baseline.
 */
function grow({ target, chunk, count, measure, bound }: Attack): Growth {
  const warm = target()
  for (let i = 0; i < 8192; i++) warm(chunk())
  const push = target()
  const base = measure()
  let peak = 0
  const step = Math.ceil(count / 4)
  let pushed = 0
  while (pushed < count) {
    const end = Math.min(count, pushed + step)
    for (; pushed < end; pushed++) push(chunk())
    peak = Math.max(peak, measure() - base)
    if (peak > bound) break
  }
  return { peak, pushed }
}

describe('memory under 1-byte segments', () => {
  // 1-byte socket reads cost objects, read from the heap: 1 MiB keeps the heap's own movement
  // small beside the bound. 1-byte slices cost the ArrayBuffers they pin, read exactly. Worst
  // readings: 1.02 × the limit for socket reads (old code: 190 to 220 ×), 1.00 × for slices
  // (old code: 4096 ×).
  const attacks = [
    { kind: '1 MiB in 1-byte socket reads', limit: MiB, chunk: socketByte, measure: held },
    { kind: '64 KiB in 1-byte slices of 4 KiB reads', limit: 64 * KiB, chunk: sliceByte, measure: arrayBufferBytes },
  ]

  for (const { kind, limit, chunk, measure } of attacks) {
    it(`LineDecoder holds an unfinished line of ${kind} in under twice its limit`, () => {
      let decoder = new LineDecoder({ maxLineBytes: limit })
      const growth = grow({
        target: () => {
          const d = (decoder = new LineDecoder({ maxLineBytes: limit }))
          return (c) => d.push(c)
        },
        chunk,
        count: limit - 1,
        measure,
        bound: 2 * limit,
      })
      expect(growth.peak).toBeLessThan(2 * limit)
      expect(growth.pushed).toBe(limit - 1)
      expect(decoder.buffered).toBe(limit - 1)
      const [line] = decoder.push(Buffer.from('a\n'))
      expect(line?.length).toBe(limit)
      expect(line?.every((b) => b === 0x61)).toBe(true)
      expect(decoder.buffered).toBe(0)
    })

    it(`LengthPrefixedDecoder holds an unfinished frame of ${kind} in under twice its limit`, () => {
      let decoder = new LengthPrefixedDecoder({ maxFrameBytes: limit })
      const growth = grow({
        target: () => {
          const d = (decoder = new LengthPrefixedDecoder({ maxFrameBytes: limit }))
          d.push(encodeLengthPrefix(limit, { maxFrameBytes: limit }))
          return (c) => d.push(c)
        },
        chunk,
        count: limit - 1,
        measure,
        bound: 2 * limit,
      })
      expect(growth.peak).toBeLessThan(2 * limit)
      expect(growth.pushed).toBe(limit - 1)
      const [frame] = decoder.push(Buffer.from('a'))
      expect(frame?.length).toBe(limit)
      expect(frame?.every((b) => b === 0x61)).toBe(true)
    })
  }

  it('ByteReader waiting on bytes(1 MiB) from 1-byte socket reads holds under twice what it waits for', async () => {
    const warm = new ByteReader(asyncChunks(Array.from({ length: 8192 }, socketByte)))
    expect((await warm.bytes(8192)).length).toBe(8192)
    let base = 0
    let peak = 0
    // Read 4 times while the reader pulls, the last one before the byte that completes the read.
    function* source(): Generator<Buffer> {
      base = held()
      for (let i = 1; i < MiB; i++) {
        if (i % (MiB / 4) === 0) {
          peak = Math.max(peak, held() - base)
          if (peak > 2 * MiB) return
        }
        yield socketByte()
      }
      peak = Math.max(peak, held() - base)
      yield Buffer.from('a')
    }
    const bytes = await new ByteReader(asyncChunks(source()), { maxReadBytes: MiB }).bytes(MiB).catch(() => Buffer.alloc(0))
    // Worst reading 1.02 MiB (old code: 218 MiB).
    expect(peak).toBeLessThan(2 * MiB)
    expect(bytes.equals(Buffer.alloc(MiB, 0x61))).toBe(true)
  })

  it('FramedConnection reads 1-byte chunks ahead only up to its high-water mark of memory', async () => {
    const highWaterMark = MiB
    const stream = new Duplex({
      readableHighWaterMark: highWaterMark,
      read() {},
      write(_chunk, _encoding, callback) {
        callback()
      },
    })
    const conn = new FramedConnection(stream, { decoder: new LineDecoder({ maxLineBytes: 4 * MiB }) })
    // Reading starts, but no frame is asked for: the connection reads ahead until it pauses.
    const frames = conn.frames()
    await new Promise((resolve) => setImmediate(resolve))
    const base = held()
    let pushed = 0
    // Past the pause, bytes would wait in the stream's own buffer, as they wait in the kernel for
    // a socket; a connection counting bytes would read ahead a million of them.
    while (!stream.isPaused() && pushed < highWaterMark) {
      stream.push(socketByte())
      pushed += 1
    }
    const growth = held() - base
    // Worst reading 0.64 × the high-water mark, mostly the heap's own movement (old code: 218 ×).
    expect(growth).toBeLessThan(2 * highWaterMark)
    expect(stream.isPaused()).toBe(true)
    // Each 1-byte read counts as 513 bytes: its ArrayBuffer and the objects around it.
    expect(pushed).toBe(Math.ceil(highWaterMark / 513))
    stream.push(Buffer.from('\n'))
    stream.push(null)
    expect((await frames.next()).value?.length).toBe(pushed)
    conn.destroy()
  })

  it('a FramedConnection with a LineDecoder holds a line sent 1 byte per TCP segment in under twice its limit plus one read', async () => {
    const limit = 64 * KiB
    const pair = await tcpPair()
    try {
      pair.client.setNoDelay(true)
      const line = new LineDecoder({ maxLineBytes: limit })
      const one = Buffer.from('a')
      let received = 0
      let segments = 0
      let target = 0
      let reached: () => void = () => {}
      // Each byte leaves once the one before has reached the decoder: every segment is 1 byte.
      const decoder = {
        get buffered() {
          return line.buffered
        },
        get error() {
          return line.error
        },
        push(chunk: Uint8Array) {
          received += chunk.length
          segments += 1
          const frames = line.push(chunk)
          if (received < target) pair.client.write(one)
          else reached()
          return frames
        },
        end: () => line.end(),
      }
      const conn = new FramedConnection(pair.server, { decoder })
      const next = conn.frames().next()
      const send = async (bytes: number): Promise<void> => {
        const done = new Promise<void>((resolve) => (reached = resolve))
        target = received + bytes
        pair.client.write(one)
        await done
      }
      // The first bytes let the engine compile the path before the baseline.
      await send(4096)
      const base = held()
      await send(limit - 1 - 4096)
      const growth = held() - base
      expect(segments).toBe(limit - 1)
      expect(line.buffered).toBe(limit - 1)
      // Worst reading 1.5 × the limit, the heap's own movement included (old code: 183 ×).
      expect(growth).toBeLessThan(2 * limit + 64 * KiB)
      pair.client.end('\n')
      expect((await next).value?.length).toBe(limit - 1)
      await once(pair.server, 'end')
    } finally {
      await pair.close()
    }
  })
})

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}
