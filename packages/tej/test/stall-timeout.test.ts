// limits.stallTimeout: a send fails once one of its writes waits that long for the peer to take bytes.
import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import net from 'node:net'
import type { ProtoError } from '@proto/framing'
import { tcpPair } from '@proto/framing/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { ErrorCode } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { TejConnection } from '../src/types.ts'
import { closeError, open } from './helpers.ts'

const MIB = 1_048_576

afterEach(() => {
  vi.useRealTimers()
})

/** A raw TCP listener on 127.0.0.1 whose connections are never read. */
async function deafPeer(): Promise<{ port: number; accepted: Promise<net.Socket>; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    sockets.add(socket)
    socket.on('error', () => undefined)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  return {
    port,
    accepted: once(server, 'connection').then(([socket]) => socket as net.Socket),
    close: async () => {
      for (const socket of sockets) socket.destroy()
      server.close()
      await once(server, 'close')
    },
  }
}

/**
 * A file source that makes each chunk only when asked for it, so that a pull means the write
 * before it has finished; `onPull` hears each pull, and the last one, which ends the file.
 */
function pulled(count: number, onPull: (index: number) => void): AsyncIterable<Uint8Array> {
  let index = 0
  const iterator: AsyncIterableIterator<Uint8Array> = {
    next: () => {
      onPull(index)
      if (index === count) return Promise.resolve({ done: true, value: undefined })
      return Promise.resolve({ done: false, value: Buffer.alloc(MIB, index++) })
    },
    [Symbol.asyncIterator]: () => iterator,
  }
  return iterator
}

/** A file of 1 GiB in 1 MiB chunks, far more than the peer's socket buffers hold; counts what it has yielded. */
function endless(): { stream: AsyncIterable<Uint8Array>; size: number; yielded: () => number } {
  let pulls = 0
  const stream = pulled(1024, () => (pulls += 1))
  return { stream, size: 1024 * MIB, yielded: () => pulls * MIB }
}

/** Reads how `promise` has settled so far, as its settling sets it. */
function watch(promise: Promise<unknown>): () => 'pending' | 'resolved' | 'rejected' {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending'
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  )
  return () => state
}

describe('stallTimeout', () => {
  it('fails a client send to a peer that never reads, cutting the frame short and ending the connection', async () => {
    const peer = await deafPeer()
    const conn = await connect({ host: '127.0.0.1', port: peer.port, limits: { stallTimeout: 50 } })
    const ended = closeError(conn)
    const file = endless()
    await expect(conn.send({ files: [{ name: 'big', stream: file.stream, size: file.size }] })).rejects.toMatchObject({
      name: 'TejStallTimeoutError',
      code: ErrorCode.STALL_TIMEOUT,
      timeout: 50,
    })
    // Cut inside the file, once the peer's buffers were full.
    expect(file.yielded()).toBeGreaterThan(0)
    expect(file.yielded()).toBeLessThan(file.size)
    expect(await ended).toMatchObject({ code: ErrorCode.STALL_TIMEOUT })
    await expect(conn.send({ message: 'after' })).rejects.toMatchObject({ code: ErrorCode.CLOSED })
    await conn.close()
    await peer.close()
  })

  it('fails a server send to a client that never reads', async () => {
    let report = (_err: unknown): void => undefined
    const failed = new Promise<unknown>((resolve) => {
      report = resolve
    })
    const server = createServer({
      limits: { stallTimeout: 50 },
      handler: (_frame, { connection }) => {
        const file = endless()
        connection.send({ files: [{ name: 'big', stream: file.stream, size: file.size }] }).then(() => report(undefined), report)
      },
    })
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    const serverConn = once(server, 'connection').then(([conn]) => conn as TejConnection)
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.on('error', () => undefined)
    await once(socket, 'connect')
    const conn = await serverConn
    const ended = closeError(conn)
    const reported = once(server, 'clientError') as Promise<[ProtoError, unknown]>
    // An empty frame, the wire form of `send({})`; then the client reads nothing.
    socket.write(Buffer.from([0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
    socket.pause()
    expect(await failed).toMatchObject({ code: ErrorCode.STALL_TIMEOUT, timeout: 50 })
    expect(await ended).toMatchObject({ code: ErrorCode.STALL_TIMEOUT })
    // A peer that takes nothing is a bad peer: reported once, with its connection.
    const [err, peer] = await reported
    expect(err).toMatchObject({ code: ErrorCode.STALL_TIMEOUT })
    expect(peer).toBe(conn)
    socket.destroy()
    await server.close()
  })

  it('applies 30 000 ms when none is given', async () => {
    const peer = await deafPeer()
    const conn = await connect({ host: '127.0.0.1', port: peer.port })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const file = endless()
    const sending = conn.send({ files: [{ name: 'big', stream: file.stream, size: file.size }] })
    const settled = watch(sending)
    // Each turn lets the socket take what its buffers still hold; once they are full, the write
    // that waits is cut when the clock passes the limit.
    while (settled() === 'pending') {
      await vi.advanceTimersByTimeAsync(30_000)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await expect(sending).rejects.toMatchObject({ code: ErrorCode.STALL_TIMEOUT, timeout: 30_000 })
    vi.useRealTimers()
    await conn.close()
    await peer.close()
  })

  it('bounds each write, not the send: a peer that keeps reading is never cut', async () => {
    const stall = 1000
    const chunks = 32
    const pair = await tcpPair()
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const conn = open(pair.client, { limits: { stallTimeout: stall } })
    const peer = pair.server
    let received = 0
    const progress = new Set<() => void>()
    const notify = (): void => {
      for (const wake of progress) wake()
    }
    peer.on('data', (chunk: Buffer) => {
      received += chunk.length
      notify()
    })
    peer.pause()
    let pulls = 0
    let finished = false
    const source = pulled(chunks, (index) => {
      pulls += 1
      finished = index === chunks
      notify()
    })
    const until = (done: () => boolean): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (!done()) return
          progress.delete(check)
          resolve()
        }
        progress.add(check)
        check()
      })
    const started = performance.now()
    const sending = conn.send({ files: [{ name: 'big', stream: source, size: chunks * MIB }] })
    const settled = watch(sending)
    while (!finished) {
      // The clock runs just short of the limit while the peer reads nothing...
      await vi.advanceTimersByTimeAsync(stall - 1)
      expect(settled()).not.toBe('rejected')
      // ...then the peer reads until the write that was waiting has drained.
      const before = pulls
      peer.resume()
      await until(() => pulls > before || finished)
      peer.pause()
    }
    const elapsed = performance.now() - started
    peer.resume()
    const frameBytes = 10 + 2 + 'big'.length + 8 + chunks * MIB + 8
    await until(() => received === frameBytes)
    await sending
    // The whole send took many times the limit.
    expect(elapsed).toBeGreaterThan(4 * stall)
    vi.useRealTimers()
    await conn.close()
    await pair.close()
  })

  it('cuts the flush of close() when the peer takes none of the last frame', async () => {
    const pair = await tcpPair()
    const conn = open(pair.client, { limits: { stallTimeout: 50 } })
    const ended: Promise<ProtoError | undefined> = closeError(conn)
    // Small frames resolve once queued below the high-water mark; the first one the full socket
    // keeps is left to close().
    const message = Buffer.alloc(8192)
    do {
      await conn.send({ message })
      // A turn of the event loop: what was queued has been handed to the socket, or is kept.
      await new Promise((resolve) => setImmediate(resolve))
    } while (pair.client.writableLength === 0)
    await conn.close()
    expect(await ended).toMatchObject({ code: ErrorCode.STALL_TIMEOUT })
    await pair.close()
  })
})
