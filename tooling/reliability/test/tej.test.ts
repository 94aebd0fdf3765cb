// TEJ frames are binary with u64 lengths, so the attacks here are hand-built headers: lengths
// of 2^63, files that never end, frames that stop half-way. The server's handler picks its
// behaviour by status: echo (the probe), skip everything, or hold the frame and read nothing.
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, createServer, DEFAULT_MAX_CONNECTIONS, ErrorCode } from '@proto/tej'
import type { TejContext, TejIncomingFrame, TejServer, TejServerOptions } from '@proto/tej'
import {
  ClientErrors,
  closed,
  connectRaw,
  dribble,
  Flood,
  MemoryWatch,
  MiB,
  openMany,
  probeUntilQuiet,
  Received,
  reset,
  segmented,
} from './helpers.ts'

// Memory bounds, in bytes of growth over a collected baseline: "held" is V8 heap in use plus
// ArrayBuffers, read after a full gc; RSS is resident memory. Each bound is about four times the
// worst of three readings taken with RELIABILITY_REPORT=1 (Node 20.20, whole suite on 2 shared
// cores), and well below what the attack costs a server without the limit: every flood offers
// 64 MiB. Both ends of every socket live in this process, so the storm bounds count both.
/** Declared lengths of 2^63 and a 32 MiB message; worst 0.22 MiB, nothing reserved. */
const LENGTHS_HELD = 2 * MiB
/** 64 MiB of one endless file through a handler that skips it; worst 0.24 MiB. */
const STREAM_HELD = 4 * MiB
/** A file to a handler that never reads, or echoes to a peer that never reads; worst 3.95 MiB. */
const BACKPRESSURE_HELD = 16 * MiB
/** 1,000 idle connections; worst 7.5 MiB held, 12.7 MiB RSS. */
const STORM_HELD = 32 * MiB
const STORM_RSS = 64 * MiB
const STORM_CONNECTIONS = 1_000
/**
 * A file of a frame being buffered, or a message, sent in 100 000 1-byte segments: worst 0.29 MiB
 * held, 1.3 MiB RSS (blocks of 64 KiB and the connection's own objects); keeping each segment as
 * it came held 18.7 MiB (45.7 MiB RSS) for the same bytes. The bound leaves room for the noise
 * of a collection at this size.
 */
const SEGMENTS = 100_000
const SEGMENTED_HELD = 2 * MiB
/**
 * The same segments of a file its handler never reads. The connection stops taking chunks once
 * those it read ahead hold its high-water mark, but the socket under it goes on reading until
 * its own buffer holds 16 KiB by length, that is 16 384 1-byte chunks: worst 3.10 MiB held,
 * 18.5 MiB RSS, the same for 300 000 segments, and 3.40 MiB on Node 24, whose sockets framing
 * gives the same 16 KiB (at Node's own 64 KiB default, 13.2 MiB); 6.1 MiB held (28 MiB RSS) when the connection
 * also read ahead by length, which the bound, between the two, tells apart. The rest waits in
 * the kernel.
 */
const UNREAD_SEGMENTED_HELD = 5 * MiB
/** Small enough to keep the suite fast, large enough that a dribbled byte is never late. */
const IDLE_TIMEOUT = 300
const ATTACK_BYTES = 64 * MiB

const ECHO = 1
const SKIP = 3
const HOLD = 4

let server: TejServer | undefined
let port = 0
let errors: ClientErrors

async function handle(frame: TejIncomingFrame, ctx: TejContext): Promise<void> {
  switch (frame.status) {
    case ECHO: {
      const whole = await frame.buffer()
      await ctx.connection.send(whole)
      return
    }
    case HOLD:
      // Reads nothing until the connection ends: the sender must be held back, not buffered.
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }))
      return
    default:
      await frame.message()
  }
}

async function start(options: TejServerOptions = {}): Promise<TejServer> {
  const created = createServer({ handler: handle, ...options })
  server = created
  errors = new ClientErrors(created)
  ;({ port } = await created.listen({ host: '127.0.0.1', port: 0 }))
  return created
}

/** A well-behaved client: sends one frame with a file, reads the echo, closes. */
async function probe(): Promise<void> {
  const conn = await connect({ host: '127.0.0.1', port })
  const frames = conn[Symbol.asyncIterator]()
  await conn.send({ status: ECHO, files: [{ name: 'p.txt', data: 'file' }], message: 'probe' })
  const next = await frames.next()
  if (next.done === true) throw new Error(`the server closed the probe (clientErrors: ${errors.codes().join(', ')})`)
  const reply = await next.value.buffer()
  expect(Buffer.from(reply.message).toString()).toBe('probe')
  expect(reply.files.map((file) => Buffer.from(file.data).toString())).toEqual(['file'])
  await conn.close()
}

const u16 = (value: number): Buffer => {
  const bytes = Buffer.alloc(2)
  bytes.writeUInt16BE(value)
  return bytes
}
const u64 = (value: bigint): Buffer => {
  const bytes = Buffer.alloc(8)
  bytes.writeBigUInt64BE(value)
  return bytes
}
/** Status byte (bit 7 set), version 1, file count. */
const frameHead = (status: number, files: bigint): Buffer => Buffer.concat([Buffer.of(0x80 | status, 1), u64(files)])
/** One file's header: name length, name, data length. */
const fileHead = (name: string, size: bigint): Buffer =>
  Buffer.concat([u16(Buffer.byteLength(name)), Buffer.from(name), u64(size)])
const TWO_63 = 2n ** 63n

afterEach(async () => {
  await server?.close({ signal: AbortSignal.abort() })
  server = undefined
})

describe('tej under attack', () => {
  it.each([
    ['a file count of 2^63', frameHead(SKIP, TWO_63), ErrorCode.TOO_MANY_FILES],
    ['a name length of 65 535', Buffer.concat([frameHead(SKIP, 1n), u16(65_535), Buffer.alloc(100, 'n')]), ErrorCode.NAME_TOO_LONG],
    ['a file length of 2^63', Buffer.concat([frameHead(SKIP, 1n), fileHead('a', TWO_63), Buffer.alloc(100)]), ErrorCode.FILE_TOO_LARGE],
    ['a message length of 2^63', Buffer.concat([frameHead(SKIP, 0n), u64(TWO_63), Buffer.alloc(100)]), ErrorCode.MESSAGE_TOO_LARGE],
    ['a message length of 32 MiB', Buffer.concat([frameHead(SKIP, 0n), u64(BigInt(32 * MiB)), Buffer.alloc(100)]), ErrorCode.MESSAGE_TOO_LARGE],
  ])('refuses %s before reserving memory for it', async (name, bytes, code) => {
    await start()
    const watch = new MemoryWatch(`tej ${name}`)
    const attacker = await connectRaw(port)
    attacker.write(bytes)
    await probe()
    await errors.until(code)
    await closed(attacker)
    const growth = watch.settle()
    expect(growth.peakHeld).toBeLessThan(LENGTHS_HELD)
    expect(errors.codes()).toEqual([code])
    await probe()
  })

  it('streams an endless file past a handler that skips it, with flat memory', async () => {
    await start()
    const watch = new MemoryWatch('tej endless file, skipped')
    const attacker = await connectRaw(port)
    attacker.write(Buffer.concat([frameHead(SKIP, 1n), fileHead('endless', BigInt(Number.MAX_SAFE_INTEGER))]))
    const flood = new Flood(attacker, Buffer.alloc(65_536, 'f'), ATTACK_BYTES, watch)
    const probes = (async () => {
      for (let i = 0; i < 3; i++) await probe()
    })()
    await flood.flushedAll
    await probes
    const growth = watch.settle()
    // All of it went through: skipping keeps reading, and holds nothing.
    expect(flood.flushed).toBe(ATTACK_BYTES)
    expect(growth.peakHeld).toBeLessThan(STREAM_HELD)
    expect(errors.all).toEqual([])
  })

  it('holds back a file sent to a handler that never reads it, and serves others meanwhile', async () => {
    await start()
    const watch = new MemoryWatch('tej file to a handler that never reads')
    const attacker = await connectRaw(port)
    attacker.write(Buffer.concat([frameHead(HOLD, 1n), fileHead('held', BigInt(Number.MAX_SAFE_INTEGER))]))
    const flood = new Flood(attacker, Buffer.alloc(65_536, 'h'), ATTACK_BYTES, watch)
    await probeUntilQuiet(probe, () => flood.flushed, watch)
    const growth = watch.settle()
    expect(flood.flushed).toBeLessThan(ATTACK_BYTES)
    expect(growth.peakHeld).toBeLessThan(BACKPRESSURE_HELD)
  })

  it('holds back a peer that pipelines frames and never reads the echoes', async () => {
    await start()
    const frame = Buffer.concat([frameHead(ECHO, 0n), u64(1_000n), Buffer.alloc(1_000, 'm')])
    const watch = new MemoryWatch('tej pipelined flood, never reads')
    const attacker = await connectRaw(port)
    attacker.pause()
    const chunk = Buffer.concat(Array.from({ length: Math.floor(65_536 / frame.length) }, () => frame))
    const flood = new Flood(attacker, chunk, ATTACK_BYTES, watch)
    await probeUntilQuiet(probe, () => flood.flushed, watch)
    const growth = watch.settle()
    expect(flood.flushed).toBeLessThan(ATTACK_BYTES)
    expect(growth.peakHeld).toBeLessThan(BACKPRESSURE_HELD)
  })

  it.each([
    ['a half-close', (socket: Socket) => socket.end(), ErrorCode.TRUNCATED],
    ['a reset', reset, ErrorCode.CLOSED],
  ])('reports %s in the middle of a file and keeps serving', async (_name, leave, code) => {
    await start()
    const attacker = await connectRaw(port)
    const received = new Received(attacker)
    // A whole echo first: once it is back, the server has read everything before it, so the
    // reset cannot overtake the half file and look like a FIN.
    const echo = Buffer.concat([frameHead(ECHO, 0n), u64(2n), Buffer.from('ok')])
    const half = Buffer.concat([frameHead(SKIP, 1n), fileHead('half', 1_000_000n), Buffer.alloc(500_000, 'x')])
    attacker.write(echo)
    await received.until((all) => all.length >= echo.length)
    await new Promise<void>((resolve) => attacker.write(half, () => resolve()))
    await probe()
    leave(attacker)
    await errors.until(code)
    await closed(attacker)
    await probe()
    expect(errors.codes()).toEqual([code])
  })

  it.each([
    ['a file of a frame being buffered', Buffer.concat([frameHead(ECHO, 1n), fileHead('dribbled', 1_000_000n)])],
    ['a message', Buffer.concat([frameHead(SKIP, 0n), u64(1_000_000n)])],
  ])(`holds %s sent in ${SEGMENTS} 1-byte segments by the bytes received, not by the segments`, async (what, head) => {
    await start()
    // The path the attack takes is compiled before the baseline, on a connection of its own.
    const warm = await connectRaw(port)
    await segmented(warm, Buffer.alloc(10_000, 'a'), { head })
    warm.destroy()
    await errors.until(ErrorCode.TRUNCATED)
    const watch = new MemoryWatch(`tej ${SEGMENTS} 1-byte segments of ${what}`)
    const attacker = await connectRaw(port)
    await segmented(attacker, Buffer.alloc(SEGMENTS, 'a'), { head })
    await probe()
    const growth = watch.settle()
    expect(growth.held).toBeLessThan(SEGMENTED_HELD)
    // Only the warm-up connection, cut inside its frame, was reported.
    expect(attacker.destroyed).toBe(false)
    expect(errors.codes()).toEqual([ErrorCode.TRUNCATED])
  })

  it(`holds ${SEGMENTS} 1-byte segments of a file its handler never reads by what it reads ahead, not by the segments`, async () => {
    await start()
    const head = Buffer.concat([frameHead(HOLD, 1n), fileHead('unread', 1_000_000n)])
    const warm = await connectRaw(port)
    await segmented(warm, Buffer.alloc(10_000, 'a'), { head })
    const watch = new MemoryWatch(`tej ${SEGMENTS} 1-byte segments of a file never read`)
    const attacker = await connectRaw(port)
    await segmented(attacker, Buffer.alloc(SEGMENTS, 'a'), { head })
    await probe()
    const growth = watch.settle()
    expect(growth.held).toBeLessThan(UNREAD_SEGMENTED_HELD)
    expect(attacker.destroyed).toBe(false)
    expect(errors.codes()).toEqual([])
    warm.destroy()
  })

  it('answers a slowloris while its bytes come and closes it with IDLE_TIMEOUT once they stop', async () => {
    await start({ limits: { idleTimeout: IDLE_TIMEOUT } })
    const attacker = await connectRaw(port)
    const received = new Received(attacker)
    const echo = Buffer.concat([frameHead(ECHO, 1n), fileHead('s', 3n), Buffer.from('abc'), u64(4n), Buffer.from('slow')])
    await dribble(attacker, echo)
    await received.until((all) => all.length >= echo.length)
    expect(received.bytes()).toEqual(echo)
    // Half a frame, then silence.
    await dribble(attacker, echo.subarray(0, 20))
    await probe()
    await errors.until(ErrorCode.IDLE_TIMEOUT)
    await closed(attacker)
    expect(errors.codes()).toEqual([ErrorCode.IDLE_TIMEOUT])
  })

  it('closes a connection that sends nothing with IDLE_TIMEOUT', async () => {
    await start({ limits: { idleTimeout: IDLE_TIMEOUT } })
    const attacker = await connectRaw(port)
    await probe()
    await errors.until(ErrorCode.IDLE_TIMEOUT)
    await closed(attacker)
  })

  it(`serves a client beside ${STORM_CONNECTIONS} idle connections and refuses those past maxConnections`, async () => {
    await start()
    const watch = new MemoryWatch('tej connection storm')
    const sockets = await openMany(port, STORM_CONNECTIONS)
    await probe()
    const growth = watch.settle()
    expect(growth.peakHeld).toBeLessThan(STORM_HELD)
    expect(growth.peakRss).toBeLessThan(STORM_RSS)
    const extra = 50
    const more = await openMany(port, extra)
    await errors.until(ErrorCode.TOO_MANY_CONNECTIONS, STORM_CONNECTIONS + extra - DEFAULT_MAX_CONNECTIONS)
    expect(errors.codes()).toEqual([ErrorCode.TOO_MANY_CONNECTIONS])
    for (const socket of [...sockets, ...more]) socket.destroy()
  })
})
