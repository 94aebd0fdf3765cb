import { Buffer } from 'node:buffer'
import type { Duplex } from 'node:stream'
import { duplexPair, makeTestCertificate } from '@proto/framing/testing'
import { describe, expect, it, vi } from 'vitest'
import { decodeFrame, encodeRequest } from '../src/codec.ts'
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT,
} from '../src/constants.ts'
import type { KarpError } from '../src/errors.ts'
import type { ConnectionOptions } from './helpers.ts'
import { createServer } from '../src/server.ts'
import { RawClient, connectionOn, deferred } from './helpers.ts'

const frame = (i: number, route: string, data: string | Uint8Array = '', wantsReply = true): Buffer =>
  Buffer.from(encodeRequest({ route, id: String(i).padStart(16, '0'), data, wantsReply }))

/** Collects the frames a peer writes to the raw end of a pair. */
function replies(raw: Duplex): { frames: ReturnType<typeof decodeFrame>[]; next(count: number): Promise<void> } {
  const frames: ReturnType<typeof decodeFrame>[] = []
  let carry = ''
  let waiting: { count: number; resolve: () => void } | undefined
  raw.on('data', (chunk: Buffer) => {
    const lines = (carry + chunk.toString('latin1')).split('\n')
    carry = lines.pop() ?? ''
    for (const line of lines) frames.push(decodeFrame(Buffer.from(line, 'latin1')))
    if (waiting !== undefined && frames.length >= waiting.count) waiting.resolve()
  })
  raw.on('error', () => {})
  // Like a well-behaved peer, end our side once the other has ended its own.
  raw.on('end', () => raw.end())
  return {
    frames,
    next: (count) =>
      frames.length >= count ? Promise.resolve() : new Promise<void>((resolve) => (waiting = { count, resolve })),
  }
}

function text(data: Uint8Array): string {
  return Buffer.from(data).toString()
}

describe('defaults', () => {
  it('are the documented values', () => {
    expect(DEFAULT_PORT).toBe(7755)
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(16_777_216)
    expect(DEFAULT_MAX_IN_FLIGHT).toBe(1024)
    expect(DEFAULT_TIMEOUT).toBe(30_000)
    expect(DEFAULT_MAX_WRITE_BUFFER_BYTES).toBe(67_108_864)
    expect(DEFAULT_MAX_CONNECTIONS).toBe(1024)
    expect(DEFAULT_IDLE_TIMEOUT).toBe(0)
  })
})

describe('maxInFlight', () => {
  async function incoming(options: ConnectionOptions, limit: number): Promise<void> {
    const [raw, end] = duplexPair()
    const release = deferred()
    let running = 0
    let most = 0
    const errors: KarpError[] = []
    const peer = connectionOn(end, {
      ...options,
      handlers: {
        hold: async () => {
          most = Math.max(most, ++running)
          await release.promise
          running--
          return 'done'
        },
      },
    })
    peer.on('protocolError', (err) => errors.push(err))
    const out = replies(raw)
    const flood = []
    for (let i = 1; i <= limit + 2; i++) flood.push(frame(i, 'hold'))
    flood.push(frame(limit + 3, 'hold', '', false))
    raw.write(Buffer.concat(flood))
    await out.next(2)
    // The two requests past the limit are answered at once; the notification is dropped.
    expect(out.frames.map((f) => [f.id, f.type === 'response' && f.success, text(f.data)])).toEqual([
      [String(limit + 1).padStart(16, '0'), false, expect.stringMatching(/^ERR_KARP_TOO_MANY_IN_FLIGHT: /)],
      [String(limit + 2).padStart(16, '0'), false, expect.stringMatching(/^ERR_KARP_TOO_MANY_IN_FLIGHT: /)],
    ])
    expect(errors).toEqual([expect.objectContaining({ code: 'ERR_KARP_TOO_MANY_IN_FLIGHT', limit })])
    expect(running).toBe(limit)
    release.resolve()
    await out.next(limit + 2)
    expect(most).toBe(limit)
    expect(out.frames.slice(2).every((f) => f.type === 'response' && f.success)).toBe(true)
    raw.end()
    await peer.closed
  }

  it('runs at most 1024 handlers per connection by default', async () => {
    await incoming({}, DEFAULT_MAX_IN_FLIGHT)
  })

  it('runs at most maxInFlight handlers per connection', async () => {
    await incoming({ limits: { maxInFlight: 3 } }, 3)
  })

  async function outgoing(options: ConnectionOptions, limit: number): Promise<void> {
    const [a, raw] = duplexPair()
    const out = replies(raw)
    const client = connectionOn(a, options)
    const pending = Array.from({ length: limit }, () => client.request('x').catch((err: unknown) => err))
    await expect(client.request('x')).rejects.toMatchObject({ code: 'ERR_KARP_TOO_MANY_IN_FLIGHT', limit })
    await client.notify('note')
    await out.next(limit + 1)
    expect(new Set(out.frames.map((f) => f.id)).size).toBe(limit + 1)
    await client.close({ signal: AbortSignal.abort() })
    for (const err of await Promise.all(pending)) expect(err).toMatchObject({ code: 'ERR_KARP_CLOSED' })
  }

  it('keeps at most 1024 requests pending by default', async () => {
    await outgoing({}, DEFAULT_MAX_IN_FLIGHT)
  })

  it('keeps at most maxInFlight requests pending', async () => {
    await outgoing({ limits: { maxInFlight: 5 } }, 5)
  })
})

describe('maxFrameBytes', () => {
  async function receive(options: ConnectionOptions, limit: number): Promise<void> {
    const [raw, end] = duplexPair({ highWaterMark: 1024 * 1024 })
    const peer = connectionOn(end, options)
    const errors: KarpError[] = []
    peer.on('protocolError', (err) => errors.push(err))
    const pending = peer.request('x').catch((err: unknown) => err)
    const out = replies(raw)
    // A line of exactly the limit, LF included, is read (and is garbage); one byte more is not.
    const exact = Buffer.alloc(limit, 0x41)
    exact[limit - 1] = 0x0a
    raw.write(exact)
    raw.write(Buffer.alloc(limit, 0x41))
    await peer.closed
    expect(errors.map((e) => e.code)).toEqual(['ERR_KARP_BAD_FRAME', 'ERR_KARP_FRAME_TOO_LARGE'])
    expect(errors[1]).toMatchObject({ limit, cause: { code: 'ERR_PROTO_FRAME_TOO_LARGE' } })
    expect(await pending).toMatchObject({ code: 'ERR_KARP_CLOSED', cause: { code: 'ERR_KARP_FRAME_TOO_LARGE' } })
    expect(out.frames).toHaveLength(1)
  }

  it('accepts 16 MiB frames by default and cuts the connection past them', async () => {
    await receive({}, DEFAULT_MAX_FRAME_BYTES)
  })

  it('accepts maxFrameBytes and cuts the connection past it', async () => {
    await receive({ limits: { maxFrameBytes: 1000 } }, 1000)
  })

  it('refuses to send a frame over the limit, before writing', async () => {
    const [a, raw] = duplexPair()
    const out = replies(raw)
    const client = connectionOn(a, { limits: { maxFrameBytes: 200 } })
    // 150 bytes of payload make 200 base64 characters: far over once the header is added.
    await expect(client.request('echo', 'x'.repeat(150))).rejects.toMatchObject({ code: 'ERR_KARP_FRAME_TOO_LARGE', limit: 200 })
    await expect(client.notify('echo', 'x'.repeat(150))).rejects.toMatchObject({ code: 'ERR_KARP_FRAME_TOO_LARGE' })
    const [other, otherRaw] = duplexPair()
    const otherOut = replies(otherRaw)
    const defaults = connectionOn(other)
    // 12 582 913 bytes make 16 777 220 base64 characters: over 16 MiB before any header.
    await expect(defaults.request('echo', new Uint8Array(12_582_913))).rejects.toMatchObject({
      code: 'ERR_KARP_FRAME_TOO_LARGE',
      limit: DEFAULT_MAX_FRAME_BYTES,
    })
    await Promise.all([client.close(), defaults.close()])
    expect(otherOut.frames).toEqual([])
    expect(out.frames).toEqual([])
  })

  it('replaces a reply over the limit with a failure and reports it', async () => {
    const [raw, end] = duplexPair()
    const peer = connectionOn(end, { limits: { maxFrameBytes: 200 }, handlers: { big: () => 'y'.repeat(200) } })
    const reported = deferred<unknown>()
    peer.on('handlerError', (err) => reported.resolve(err))
    const out = replies(raw)
    raw.write(frame(9, 'big'))
    await out.next(1)
    expect(out.frames[0]).toMatchObject({ id: '0000000000000009', success: false })
    expect(text(out.frames[0]?.data ?? new Uint8Array())).toMatch(/^ERR_KARP_FRAME_TOO_LARGE: /)
    expect(await reported.promise).toMatchObject({ code: 'ERR_KARP_FRAME_TOO_LARGE', limit: 200 })
    raw.end()
    await peer.closed
  })
})

describe('timeout', () => {
  it('is 30 seconds by default', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    try {
      const [a, raw] = duplexPair()
      replies(raw)
      const client = connectionOn(a)
      const settled = vi.fn()
      const pending = client.request('x')
      pending.then(settled, settled)
      await vi.advanceTimersByTimeAsync(DEFAULT_TIMEOUT - 1)
      expect(settled).not.toHaveBeenCalled()
      await vi.advanceTimersByTimeAsync(1)
      await expect(pending).rejects.toMatchObject({ name: 'TimeoutError' })
      await client.close({ signal: AbortSignal.abort() })
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('maxWriteBufferBytes', () => {
  it('refuses a call whose frame would pass 64 MiB of queued output by default', async () => {
    const [a, raw] = duplexPair()
    raw.on('error', () => {})
    const client = connectionOn(a)
    // Frames just under 16 MiB: four fit in 64 MiB, the fifth does not. Nobody reads them.
    const payload = new Uint8Array(12_500_000)
    const queued = Array.from({ length: 4 }, () => client.notify('bulk', payload).catch((err: unknown) => err))
    await expect(client.notify('bulk', payload)).rejects.toMatchObject({ code: 'ERR_PROTO_WRITE_BUFFER_FULL' })
    await expect(client.request('bulk', payload)).rejects.toMatchObject({ code: 'ERR_PROTO_WRITE_BUFFER_FULL' })
    await client.close({ signal: AbortSignal.abort() })
    for (const err of await Promise.all(queued)) expect(err).toMatchObject({ code: 'ERR_KARP_CLOSED' })
  })

  it('closes a peer that sends requests without reading the replies', async () => {
    const [raw, end] = duplexPair()
    raw.on('error', () => {})
    const peer = connectionOn(end, { limits: { maxWriteBufferBytes: 50_000 }, handlers: { echo: (request) => request.data } })
    const errors: KarpError[] = []
    peer.on('protocolError', (err) => errors.push(err))
    const big = 'z'.repeat(3000)
    const flood = Buffer.concat(Array.from({ length: 100 }, (_, i) => frame(i + 1, 'echo', big)))
    raw.write(flood)
    await peer.closed
    expect(errors).toEqual([
      expect.objectContaining({ code: 'ERR_KARP_CLOSED', cause: expect.objectContaining({ code: 'ERR_PROTO_WRITE_BUFFER_FULL' }) }),
    ])
  })
})

describe('handshakeTimeout', () => {
  it('ends a TLS handshake that does not finish in time and reports it', async () => {
    const cert = await makeTestCertificate()
    const server = createServer({ limits: { handshakeTimeout: 50 } })
    const reported = deferred<unknown>()
    server.on('clientError', (err) => reported.resolve(err))
    const { port } = await server.listen({ port: 0, tls: { key: cert.key, cert: cert.cert } })
    // Connected, and silent: no ClientHello ever comes.
    const silent = await RawClient.connect(port)
    expect(await reported.promise).toMatchObject({ code: 'ERR_KARP_TLS_HANDSHAKE', message: 'TLS handshake not done within 50 ms' })
    await silent.ended
    await server.close()
  })

  it(`is ${DEFAULT_HANDSHAKE_TIMEOUT} ms by default`, () => {
    expect(DEFAULT_HANDSHAKE_TIMEOUT).toBe(10_000)
  })
})
