import { Buffer } from 'node:buffer'
import process from 'node:process'
import { once } from 'node:events'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FramedConnection } from '../src/connection.ts'
import { DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_WRITE_BUFFER_BYTES } from '../src/constants.ts'
import { LengthPrefixedDecoder, encodeLengthPrefixed } from '../src/length-prefixed.ts'
import { LineDecoder, encodeLine } from '../src/line.ts'
import { duplexPair } from '../src/testing/duplex-pair.ts'
import { tcpPair } from '../src/testing/tcp-pair.ts'
import { rejection, settled } from './helpers.ts'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** Counts the batches a stream hands to `_writev` and `_write`. */
function countWrites(stream: Duplex): { writev: number[]; write: number } {
  const counts = { writev: [] as number[], write: 0 }
  const writable = stream as Duplex & {
    _writev: (chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void) => void
    _write: (chunk: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void) => void
  }
  const writev = writable._writev.bind(writable)
  const write = writable._write.bind(writable)
  writable._writev = (chunks, cb) => {
    counts.writev.push(chunks.length)
    writev(chunks, cb)
  }
  writable._write = (chunk, encoding, cb) => {
    counts.write += 1
    write(chunk, encoding, cb)
  }
  return counts
}

async function collect<T>(frames: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const frame of frames) out.push(frame)
  return out
}

afterEach(() => {
  vi.useRealTimers()
})

describe('FramedConnection', () => {
  it('sends 100 writes of one tick in one _writev', async () => {
    const [a, b] = duplexPair()
    const counts = countWrites(a)
    const conn = new FramedConnection(a)
    const peer = new FramedConnection(b, { decoder: new LineDecoder() })
    const received = collect(peer.frames())
    const writes = Array.from({ length: 100 }, (_, i) => conn.write(encodeLine(`message ${i}`)))
    expect(counts.writev).toEqual([])
    await Promise.all(writes)
    await new Promise((resolve) => setImmediate(resolve))
    expect(counts.writev).toEqual([100])
    expect(counts.write).toBe(0)
    await conn.end()
    expect((await received).map(String)).toEqual(Array.from({ length: 100 }, (_, i) => `message ${i}`))
  })

  it('batches a tick into one _writev on a real socket, with each frame unsplit and in order', async () => {
    const pair = await tcpPair()
    try {
      const counts = countWrites(pair.client)
      const conn = new FramedConnection(pair.client)
      const peer = new FramedConnection(pair.server, { decoder: new LengthPrefixedDecoder() })
      const received = collect(peer.frames())
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => conn.write([encodeLengthPrefixed(Buffer.alloc(i)).subarray(0, 4), Buffer.alloc(i, i)])),
      )
      await new Promise((resolve) => setImmediate(resolve))
      expect(counts.writev).toEqual([200])
      expect(counts.write).toBe(0)
      await conn.end()
      const frames = await received
      expect(frames.map((f) => f.length)).toEqual(Array.from({ length: 100 }, (_, i) => i))
      expect(frames.every((f, i) => f.every((byte) => byte === i))).toBe(true)
    } finally {
      await pair.close()
    }
  })

  it('leaves write() pending while the peer does not read, then refuses past maxWriteBufferBytes', async () => {
    expect(DEFAULT_MAX_WRITE_BUFFER_BYTES).toBe(67_108_864)
    const [a, b] = duplexPair({ highWaterMark: 64 })
    const conn = new FramedConnection(a, { maxWriteBufferBytes: 1000 })
    // The peer's buffer fills first; then ours.
    await conn.write(Buffer.alloc(60))
    await new Promise((resolve) => setImmediate(resolve))
    const pending = conn.write(Buffer.alloc(600))
    expect(await settled(pending)).toBe(false)
    const queued = conn.bufferedBytes
    expect(queued).toBeGreaterThanOrEqual(600)
    const err = await rejection(conn.write(Buffer.alloc(1000 - queued + 1)))
    expect(err).toMatchObject({ code: 'ERR_PROTO_WRITE_BUFFER_FULL', name: 'WriteBufferFullError', limit: 1000 })
    expect(conn.bufferedBytes).toBe(queued)
    const peer = new FramedConnection(b)
    const received = collect(peer.frames())
    await pending
    await conn.end()
    expect(Buffer.concat(await received).length).toBe(660)
  })

  it('ends only the wait on abort or timeout; the frame stays queued', async () => {
    const [a, b] = duplexPair({ highWaterMark: 16 })
    const conn = new FramedConnection(a)
    await conn.write(Buffer.alloc(15))
    await new Promise((resolve) => setImmediate(resolve))
    const controller = new AbortController()
    const waiting = conn.write(Buffer.alloc(100), { signal: controller.signal })
    const reason = new Error('stop waiting')
    controller.abort(reason)
    expect(await rejection(waiting)).toBe(reason)
    const timedOut = await rejection(conn.write(Buffer.alloc(10), { timeout: 5 }))
    expect((timedOut as Error).name).toBe('TimeoutError')
    expect(await rejection(conn.write(Buffer.alloc(1), { signal: controller.signal }))).toBe(reason)
    const received = collect(new FramedConnection(b).frames())
    await conn.end()
    expect(Buffer.concat(await received).length).toBe(125)
  })

  it('has no idle timeout by default', () => {
    expect(DEFAULT_IDLE_TIMEOUT).toBe(0)
  })

  it('fails a waiting read after idleTimeout with ERR_PROTO_IDLE_TIMEOUT', async () => {
    vi.useFakeTimers()
    const [a, b] = duplexPair()
    const reset = once(b, 'error')
    const conn = new FramedConnection(a, { decoder: new LineDecoder(), idleTimeout: 1000 })
    const frames = conn.frames()
    const next = frames.next()
    next.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(600)
    b.write('part')
    await vi.advanceTimersByTimeAsync(600)
    // Bytes restart the clock, even without a whole frame.
    b.write('ial\n')
    expect(String((await next).value)).toBe('partial')
    const second = frames.next()
    second.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(999)
    expect(await settledFake(second)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    const err = await rejection(second)
    expect(err).toMatchObject({ code: 'ERR_PROTO_IDLE_TIMEOUT', name: 'IdleTimeoutError', timeout: 1000 })
    expect(await conn.closed).toBe(err)
    // The peer sees a reset, as over TCP.
    expect(await reset).toEqual([expect.objectContaining({ code: 'ECONNRESET' })])
  })

  it('stops the idle clock while the consumer holds a frame', async () => {
    vi.useFakeTimers()
    const [a, b] = duplexPair()
    b.on('error', () => undefined)
    const conn = new FramedConnection(a, { decoder: new LineDecoder(), idleTimeout: 1000 })
    const frames = conn.frames()
    b.write('one\ntwo\n')
    expect(String((await frames.next()).value)).toBe('one')
    // The consumer is slow: far longer than the idle timeout passes without a read.
    await vi.advanceTimersByTimeAsync(10_000)
    expect(String((await frames.next()).value)).toBe('two')
    await vi.advanceTimersByTimeAsync(10_000)
    const third = frames.next()
    third.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(1000)
    expect(await rejection(third)).toMatchObject({ code: 'ERR_PROTO_IDLE_TIMEOUT' })
  })

  it('destroys with signal.reason when its signal aborts', async () => {
    const [a, b] = duplexPair()
    const controller = new AbortController()
    const conn = new FramedConnection(a, { decoder: new LineDecoder(), signal: controller.signal })
    const peer = new FramedConnection(b)
    const next = conn.frames().next()
    const reason = new Error('shutting down')
    controller.abort(reason)
    expect(await rejection(next)).toBe(reason)
    const closed = await conn.closed
    expect(closed).toMatchObject({ code: 'ERR_PROTO_CLOSED', cause: reason })
    expect(await rejection(conn.write(Buffer.from('x')))).toMatchObject({ code: 'ERR_PROTO_CLOSED' })
    expect(await peer.closed).toMatchObject({ code: 'ERR_PROTO_CLOSED' })
  })

  it('keeps writing after the peer half-closes: a reply after FIN', async () => {
    const pair = await tcpPair()
    try {
      const client = new FramedConnection(pair.client, { decoder: new LineDecoder() })
      const server = new FramedConnection(pair.server, { decoder: new LineDecoder() })
      await client.write(encodeLine('question'))
      await client.end()
      expect((await collect(server.frames())).map(String)).toEqual(['question'])
      await server.write(encodeLine('answer after FIN'))
      await server.end()
      expect((await collect(client.frames())).map(String)).toEqual(['answer after FIN'])
      expect(await client.closed).toBeUndefined()
      expect(await server.closed).toBeUndefined()
    } finally {
      await pair.close()
    }
  })

  it('refuses writes after end() and resolves end() on finish', async () => {
    const [a, b] = duplexPair()
    const conn = new FramedConnection(a)
    const write = conn.write(Buffer.from('last'))
    const ending = conn.end()
    expect(conn.end()).toBe(ending)
    expect(await rejection(conn.write(Buffer.from('late')))).toMatchObject({ code: 'ERR_PROTO_CLOSED' })
    const received = collect(new FramedConnection(b).frames())
    await write
    await ending
    expect(Buffer.concat(await received).toString()).toBe('last')
  })

  it('destroy(err) rejects pending writes and reads with ClosedError and resolves closed with it', async () => {
    const [a, b] = duplexPair({ highWaterMark: 8 })
    const conn = new FramedConnection(a, { decoder: new LineDecoder() })
    const peer = new FramedConnection(b, { decoder: new LineDecoder() })
    await conn.write(Buffer.alloc(7))
    await new Promise((resolve) => setImmediate(resolve))
    const pending = conn.write(Buffer.alloc(100))
    const read = conn.frames().next()
    const cause = new Error('going away')
    conn.destroy(cause)
    const writeErr = await rejection(pending)
    expect(writeErr).toMatchObject({ code: 'ERR_PROTO_CLOSED', name: 'ClosedError' })
    expect((writeErr as Error).cause).toMatchObject({ cause })
    expect(await rejection(read)).toMatchObject({ code: 'ERR_PROTO_CLOSED', cause })
    expect(await conn.closed).toMatchObject({ code: 'ERR_PROTO_CLOSED', cause })
    // The other end sees the connection reset.
    const peerErr = await rejection(collect(peer.frames()))
    expect(peerErr).toMatchObject({ code: 'ERR_PROTO_CLOSED' })
    expect(await peer.closed).toMatchObject({ code: 'ERR_PROTO_CLOSED' })
  })

  it('destroy() without an error ends reads quietly and resolves closed with undefined', async () => {
    const [a, b] = duplexPair()
    b.on('error', () => undefined)
    const conn = new FramedConnection(a)
    const read = conn.frames().next()
    conn.destroy()
    expect(await read).toEqual({ done: true, value: undefined })
    expect(await conn.closed).toBeUndefined()
  })

  it('reports a stream error as ClosedError with the error as cause, never rejecting closed', async () => {
    const pair = await tcpPair()
    const conn = new FramedConnection(pair.client, { decoder: new LineDecoder() })
    const read = collect(conn.frames())
    const cause = new Error('wire cut')
    pair.client.destroy(cause)
    expect(await rejection(read)).toMatchObject({ code: 'ERR_PROTO_CLOSED', cause })
    expect(await conn.closed).toMatchObject({ code: 'ERR_PROTO_CLOSED', cause })
    await pair.close()
  })

  it('surfaces a decoder fault after the frames before it', async () => {
    const [a, b] = duplexPair()
    b.on('error', () => undefined)
    const conn = new FramedConnection(a, { decoder: new LineDecoder({ maxLineBytes: 4 }) })
    const frames = conn.frames()
    b.write('ok\ntoo long\n')
    expect(String((await frames.next()).value)).toBe('ok')
    expect(await rejection(frames.next())).toMatchObject({ code: 'ERR_PROTO_FRAME_TOO_LARGE' })
  })

  it('answers next() calls that do not wait for each other in order, and stops on return()', async () => {
    const [a, b] = duplexPair()
    const frames = new FramedConnection(a, { decoder: new LineDecoder() }).frames()
    const calls = [frames.next(), frames.next(), frames.next()]
    b.write('one\n')
    b.write('two\nthree\nfour\n')
    expect((await Promise.all(calls)).map((r) => String(r.value))).toEqual(['one', 'two', 'three'])
    expect(await frames.return?.()).toEqual({ done: true, value: undefined })
    expect(await frames.next()).toEqual({ done: true, value: undefined })
  })

  it('yields raw chunks without a decoder and reads through reader()', async () => {
    const [a, b] = duplexPair()
    const raw = new FramedConnection(a)
    b.write('abc')
    b.end()
    expect(Buffer.concat(await collect(raw.frames())).toString()).toBe('abc')
    const [c, d] = duplexPair()
    const conn = new FramedConnection(c, { maxReadBytes: 4 })
    const reader = conn.reader()
    d.write(Buffer.from([0, 2, 0x61, 0x62]))
    expect(await reader.u16()).toBe(2)
    expect(String(await reader.bytes(2))).toBe('ab')
    expect(await rejection(reader.bytes(5))).toMatchObject({ code: 'ERR_PROTO_FRAME_TOO_LARGE' })
    expect(() => conn.frames()).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => conn.reader()).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it('reads a socket that was paused before, as from pauseOnConnect', async () => {
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as net.AddressInfo
    const accepted = once(server, 'connection') as Promise<[net.Socket]>
    const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    const [socket] = await accepted
    client.end('hello\n')
    const conn = new FramedConnection(socket, { decoder: new LineDecoder() })
    expect((await collect(conn.frames())).map(String)).toEqual(['hello'])
    await conn.end()
    await conn.closed
    client.destroy()
    server.close()
  })

  it('pauses the stream while frames are not read, and resumes as they are', async () => {
    const [a, b] = duplexPair({ highWaterMark: 64 })
    const conn = new FramedConnection(a, { decoder: new LineDecoder() })
    const frames = conn.frames()
    const writer = new FramedConnection(b)
    const line = encodeLine('x'.repeat(30))
    const writes = Array.from({ length: 50 }, () => writer.write(line))
    expect(String((await frames.next()).value).length).toBe(30)
    await new Promise((resolve) => setImmediate(resolve))
    // Unread frames push back to the writer instead of piling up here.
    expect(a.isPaused()).toBe(true)
    expect(await settled(Promise.all(writes))).toBe(false)
    let count = 1
    const all = (async () => {
      for await (const _ of frames) if (++count === 50) break
    })()
    await Promise.all(writes)
    await all
    expect(count).toBe(50)
  })

  it('disposes by ending, then waiting for closed', async () => {
    const [a, b] = duplexPair()
    const peer = new FramedConnection(b)
    const received = collect(peer.frames())
    {
      await using conn = new FramedConnection(a)
      await conn.write(Buffer.from('bye'))
      void peer.end()
    }
    expect(Buffer.concat(await received).toString()).toBe('bye')
    expect(a.destroyed).toBe(true)
  })

  it('destroys when the signal or timeout of end() fires before the output is flushed', async () => {
    const [a, b] = duplexPair({ highWaterMark: 16 })
    b.on('error', () => undefined)
    const conn = new FramedConnection(a)
    void conn.write(Buffer.alloc(1000)).catch(() => undefined)
    const err = await rejection(conn.end({ timeout: 10 }))
    expect(err).toMatchObject({ name: 'TimeoutError', code: 'ERR_PROTO_TIMEOUT', message: 'end timed out after 10 ms' })
    expect(await conn.closed).toBe(err)
    expect(a.destroyed).toBe(true)
  })

  it('honours a write or end timeout past 2^31 - 1 ms exactly, on one timer per connection', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const long = 2 ** 31 + 5
    const [a, b] = duplexPair({ highWaterMark: 16 })
    b.on('error', () => undefined)
    const conn = new FramedConnection(a)
    const first = conn.write(Buffer.alloc(100), { timeout: long })
    const second = conn.write(Buffer.alloc(100), { timeout: long + 1 })
    first.catch(() => undefined)
    second.catch(() => undefined)
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(long - 1)
    expect(await settledFake(first)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await rejection(first)).toMatchObject({ name: 'TimeoutError', code: 'ERR_PROTO_TIMEOUT', timeout: long })
    expect(await settledFake(second)).toBe(false)
    const ending = conn.end({ timeout: long })
    ending.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(long - 1)
    expect(a.destroyed).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await rejection(ending)).toMatchObject({ code: 'ERR_PROTO_TIMEOUT', message: `end timed out after ${long} ms` })
    expect(a.destroyed).toBe(true)
  })

  it('waits an idleTimeout past 2^31 - 1 ms in full', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const long = 2 ** 31 + 5
    const [a, b] = duplexPair()
    b.on('error', () => undefined)
    const conn = new FramedConnection(a, { idleTimeout: long })
    const next = conn.frames().next()
    next.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(long - 1)
    expect(await settledFake(next)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await rejection(next)).toMatchObject({ code: 'ERR_PROTO_IDLE_TIMEOUT', timeout: long })
  })

  it('reads a 256 MiB field slowly through a connection within a bounded arrayBuffers', async () => {
    const [a, b] = duplexPair({ highWaterMark: 64 * 1024 })
    const total = 256 * 1024 * 1024
    const writer = new FramedConnection(b)
    const reader = new FramedConnection(a).reader()
    const sending = (async () => {
      const chunk = Buffer.alloc(64 * 1024, 7)
      // Fresh copies, as a socket delivers them: a reader that kept them would hold 256 MiB.
      for (let sent = 0; sent < total; sent += chunk.length) await writer.write(Buffer.from(chunk))
      await writer.end()
    })()
    // Readings come after a full collection, so only what is kept alive counts, whatever the
    // engine's collection schedule.
    const gc = exposeGc()
    gc()
    const baseline = process.memoryUsage().arrayBuffers
    let peak = 0
    let seen = 0
    let pieces = 0
    for await (const piece of reader.stream(total)) {
      seen += piece.length
      if (++pieces % 128 === 0) {
        if (pieces % 1024 === 0) gc()
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline)
        // A slow consumer: the writer must wait for it rather than fill memory.
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    await sending
    expect(seen).toBe(total)
    expect(await reader.atEnd()).toBe(true)
    // Garbage not yet collected is counted too; holding the field would pass 256 MiB.
    expect(peak).toBeLessThan(64 * 1024 * 1024)
  })

  it('refuses bad options', () => {
    const [a] = duplexPair()
    for (const init of [{ idleTimeout: -1 }, { maxWriteBufferBytes: 0 }, { maxReadBytes: 1.5 }]) {
      expect(() => new FramedConnection(a, init)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    }
  })

  it('refuses a bad timeout on write() and end() without writing', async () => {
    const [a] = duplexPair()
    const conn = new FramedConnection(a)
    expect(await rejection(conn.write(Buffer.from('x'), { timeout: -1 }))).toMatchObject({ code: 'ERR_PROTO_USAGE' })
    expect(conn.bufferedBytes).toBe(0)
    expect(await rejection(conn.end({ timeout: 1.5 }))).toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await conn.write(Buffer.from('still open'))
  })
})

/** `settled` for fake timers, where setImmediate is faked too. */
async function settledFake(promise: Promise<unknown>): Promise<boolean> {
  let done = false
  promise.then(
    () => (done = true),
    () => (done = true),
  )
  for (let i = 0; i < 10; i++) await Promise.resolve()
  return done
}

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}
