import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { ProtoError } from '@proto/framing'
import { TejDecoder, encodeFrame } from '../src/codec.ts'
import { ErrorCode } from '../src/errors.ts'
import type { TejDecodeEvent } from '../src/types.ts'
import { connectionPair, gate, heldSource, tejPair, wire } from './helpers.ts'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)

afterEach(() => {
  vi.useRealTimers()
})

/** Whether `promise` has settled, checked without waiting for it. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending')
  return (await Promise.race([promise.then(() => true), Promise.resolve(marker)])) !== marker
}

describe('idle timeout', () => {
  it('closes a connection stuck inside a frame with ERR_TEJ_IDLE_TIMEOUT (tej_raw_truncated_frame)', async () => {
    vi.useFakeTimers()
    const { conn, peer, ended } = connectionPair({ limits: { idleTimeout: 1000 }, handler: (frame) => frame.buffer().then(() => undefined) })
    peer.write(wire('tej_raw_truncated_frame/client/0'))
    await vi.advanceTimersByTimeAsync(999)
    expect(await settled(ended)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await ended).toMatchObject({ code: ErrorCode.IDLE_TIMEOUT })
    expect(conn.signal.aborted).toBe(true)
  })

  it('waits forever without idleTimeout, as the original does', async () => {
    vi.useFakeTimers()
    const { peer, ended } = connectionPair({ handler: (frame) => frame.buffer().then(() => undefined) })
    peer.write(wire('tej_raw_truncated_frame/client/0'))
    await vi.advanceTimersByTimeAsync(24 * 3600 * 1000)
    expect(await settled(ended)).toBe(false)
  })

  it('closes an idle connection between frames', async () => {
    vi.useFakeTimers()
    const { ended } = connectionPair({ limits: { idleTimeout: 500 } })
    await vi.advanceTimersByTimeAsync(500)
    expect(await ended).toMatchObject({ code: ErrorCode.IDLE_TIMEOUT })
  })

  it('stays open while pings arrive every idleTimeout/3, and closes once they stop', async () => {
    vi.useFakeTimers()
    const { a, b, bEnded } = tejPair({ pingInterval: 300 }, { limits: { idleTimeout: 900 } })
    for (let i = 0; i < 10; i += 1) {
      const pinged = once(b, 'ping')
      await vi.advanceTimersByTimeAsync(300)
      await pinged
    }
    expect(await settled(bEnded)).toBe(false)
    expect(a.signal.aborted).toBe(false)
    const silent = tejPair({}, { limits: { idleTimeout: 900 } })
    await vi.advanceTimersByTimeAsync(900)
    expect(await silent.bEnded).toMatchObject({ code: ErrorCode.IDLE_TIMEOUT })
    expect(await settled(bEnded)).toBe(false)
  })

  it('never times out a consumer that is slow to read a file', async () => {
    vi.useFakeTimers()
    const { conn, peer, ended } = connectionPair({ limits: { idleTimeout: 100 } })
    const frame = Buffer.from(encodeFrame({ status: 0, files: [{ name: 'f', data: Buffer.alloc(200_000) }], message: Buffer.alloc(0) }))
    peer.write(frame)
    const frames = conn[Symbol.asyncIterator]()
    const first = (await frames.next()).value ?? expect.unreachable()
    const files = first.files()[Symbol.asyncIterator]()
    const file = (await files.next()).value ?? expect.unreachable()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(await settled(ended)).toBe(false)
    let size = 0
    for await (const chunk of file) size += chunk.length
    expect(size).toBe(200_000)
  })
})

describe('pings', () => {
  it('sends none unless asked: pingInterval defaults to 0', async () => {
    vi.useFakeTimers()
    const { conn, peer } = connectionPair()
    await vi.advanceTimersByTimeAsync(3600 * 1000)
    await conn.close()
    let received = 0
    for await (const chunk of peer) received += (chunk as Buffer).length
    expect(received).toBe(0)
  })

  it('sends interval pings only between frames', async () => {
    vi.useFakeTimers()
    const { conn, reader } = connectionPair({ pingInterval: 1000 })
    const source = async function* (): AsyncGenerator<Uint8Array> {
      yield Buffer.from('AB')
      // The interval fires mid-frame: its ping must wait for the frame to end.
      await vi.advanceTimersByTimeAsync(1000)
      yield Buffer.from('CD')
    }
    const sent = conn.send({ files: [{ name: 'f', stream: source(), size: 4 }], message: 'm' })
    const frame = Buffer.from(encodeFrame({ status: 0, files: [{ name: 'f', data: Buffer.from('ABCD') }], message: Buffer.from('m') }))
    expect(await reader.bytes(frame.length)).toEqual(frame)
    const ping = wire('tej_ping_frame_from_Ping_class/client/0')
    expect(await reader.bytes(ping.length)).toEqual(ping)
    await sent
  })

  it('never interleaves concurrent sends and interval pings inside a frame', async () => {
    vi.useFakeTimers()
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 }),
        async (plans) => {
          const { conn, peer } = connectionPair({ pingInterval: 100 })
          const sent = plans.map((pieces, i) => {
            const data = Buffer.concat(pieces.map((n, j) => Buffer.alloc(n, (i * 7 + j) & 0xff)))
            const stream = (async function* () {
              for (const [j, n] of pieces.entries()) {
                await vi.advanceTimersByTimeAsync(100)
                yield Buffer.alloc(n, (i * 7 + j) & 0xff)
              }
            })()
            return { data, done: conn.send({ status: 10 + i, files: [{ name: `f${i}`, stream, size: data.length }], message: `m${i}` }) }
          })
          const decoder = new TejDecoder()
          const events: TejDecodeEvent[] = []
          const reading = (async () => {
            for await (const chunk of peer) events.push(...decoder.push(chunk as Buffer))
          })()
          await Promise.all(sent.map((s) => s.done))
          await conn.close()
          await reading
          // Rebuild what arrived: a ping cut into a frame would corrupt it or fail the decoder.
          const frames: { status: number; data: Buffer[] }[] = []
          for (const event of events) {
            if (event.type === 'frame') frames.push({ status: event.status, data: [] })
            else if (event.type === 'data') frames.at(-1)?.data.push(Buffer.from(event.chunk))
          }
          const pings = frames.filter((f) => f.status === 2)
          expect(pings.length).toBeGreaterThanOrEqual(1)
          expect(pings.every((f) => f.data.length === 0)).toBe(true)
          const others = frames.filter((f) => f.status !== 2)
          expect(others.map((f) => f.status)).toEqual(plans.map((_, i) => 10 + i))
          for (const [i, f] of others.entries()) expect(Buffer.concat(f.data).equals(sent[i]?.data ?? Buffer.alloc(1))).toBe(true)
        },
      ),
      { numRuns: Math.max(1, Math.floor(numRuns / 4)) },
    )
  })
})

describe('close', () => {
  it('lets queued sends finish, then sends FIN', async () => {
    const { conn, reader } = connectionPair()
    const held = gate()
    const sent = conn.send({ files: [{ name: 'a', stream: heldSource(held.promise, Buffer.from('late')), size: 4 }] })
    const closing = conn.close()
    held.open()
    await sent
    await closing
    const frame = encodeFrame({ status: 0, files: [{ name: 'a', data: Buffer.from('late') }], message: Buffer.alloc(0) })
    expect(await reader.bytes(frame.length)).toEqual(Buffer.from(frame))
    expect(await reader.atEnd()).toBe(true)
    await expect(conn.send({ message: 'after' })).rejects.toMatchObject({ code: ErrorCode.CLOSED })
  })

  it('ends a waiting iterator, discards frames that come later, and closes when the peer finishes', async () => {
    const { conn, peer, ended } = connectionPair()
    const frames = conn[Symbol.asyncIterator]()
    const waiting = frames.next()
    await conn.close()
    expect(await waiting).toEqual({ done: true, value: undefined })
    peer.resume()
    peer.end(wire('tej_message_only/client/0'))
    expect(await ended).toBeUndefined()
    expect(conn.signal.aborted).toBe(true)
  })

  it('destroys at once when its signal aborts', async () => {
    const { conn, ended } = connectionPair()
    const reason = new Error('no time')
    await conn.close({ signal: AbortSignal.abort(reason) })
    expect(await ended).toMatchObject({ code: ErrorCode.CLOSED, cause: reason })
  })

  it('destroys when its signal aborts while the peer has not finished', async () => {
    const { conn, ended } = connectionPair()
    const controller = new AbortController()
    await conn.close({ signal: controller.signal })
    expect(await settled(ended)).toBe(false)
    controller.abort(new Error('enough'))
    expect(((await ended) as ProtoError).cause).toMatchObject({ message: 'enough' })
  })

  it('closes on Symbol.asyncDispose, as await using calls it', async () => {
    const { conn, reader } = connectionPair()
    void conn.send({ message: 'hello' })
    await conn[Symbol.asyncDispose]()
    const expected = wire('tej_message_only/client/0')
    expect(await reader.bytes(expected.length)).toEqual(expected)
    expect(await reader.atEnd()).toBe(true)
  })

  it('resolves closed and emits close once both sides have finished', async () => {
    const { a, b, aEnded, bEnded } = tejPair()
    await a.close()
    expect(await aEnded).toBeUndefined()
    expect(await bEnded).toBeUndefined()
    await Promise.all([a.closed, b.closed])
    expect([a.signal.aborted, b.signal.aborted]).toEqual([true, true])
  })
})
