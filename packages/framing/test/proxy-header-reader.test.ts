import { Buffer } from 'node:buffer'
import type net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ByteReader } from '../src/byte-reader.ts'
import { ProxyHeaderError } from '../src/errors.ts'
import { readProxyHeader } from '../src/proxy-header-reader.ts'
import { encodeProxyHeader } from '../src/proxy-protocol.ts'
import type { ProxyHeader } from '../src/proxy-protocol.ts'
import { tcpPair } from '../src/testing/tcp-pair.ts'
import type { TcpPair } from '../src/testing/tcp-pair.ts'
import { rejection, settled } from './helpers.ts'

const client6: ProxyHeader = {
  version: 2,
  command: 'proxy',
  transport: 'tcp',
  source: { address: '2001:db8::7', port: 50_123 },
  destination: { address: '2001:db8::1', port: 443 },
}
const client4: ProxyHeader = { ...client6, version: 1, source: { address: '203.0.113.7', port: 41_000 }, destination: { address: '198.51.100.1', port: 80 } }
const payload = Buffer.from('GET / HTTP/1.1\r\n\r\n')

const pairs: TcpPair[] = []
async function pair(): Promise<TcpPair> {
  const p = await tcpPair()
  pairs.push(p)
  return p
}

afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(pairs.splice(0).map((p) => p.close()))
})

/**
 * Waits, one turn of the event loop at a time, until `socket` has read `count` bytes off the
 * wire: how a test knows what the kernel handed over, without a clock.
 */
async function received(socket: net.Socket, count: number): Promise<void> {
  while (socket.bytesRead < count) await new Promise((resolve) => setImmediate(resolve))
}

const listeners = (socket: net.Socket): number[] => ['readable', 'data', 'end', 'close', 'error'].map((e) => socket.listenerCount(e))

describe('readProxyHeader', () => {
  it('reads a header and leaves the payload of the same segment to the next reader', async () => {
    const { client, server } = await pair()
    const before = listeners(server)
    const wire = Buffer.concat([encodeProxyHeader(client4), payload])
    client.write(wire)
    await received(server, wire.length)
    const { header, remote } = await readProxyHeader(server, { mode: 'v1' })
    expect(header).toEqual(client4)
    expect(remote).toEqual({ address: '203.0.113.7', port: 41_000 })
    expect(listeners(server)).toEqual(before)
    expect(await new ByteReader(server).bytes(payload.length)).toEqual(payload)
  })

  it('reads a header sent a byte at a time, and nothing after it', async () => {
    const { client, server } = await pair()
    const wire = encodeProxyHeader(client6, { tlvs: [{ type: 0x02, value: Buffer.from('example.com') }] })
    const reading = readProxyHeader(server, { mode: 'v2' })
    for (let i = 0; i < wire.length; i++) {
      client.write(wire.subarray(i, i + 1))
      await received(server, i + 1)
    }
    expect(await reading).toEqual({ header: client6, remote: client6.source })
    expect(server.readableLength).toBe(0)
    client.end(payload)
    const rest: Buffer[] = []
    for await (const chunk of server) rest.push(chunk as Buffer)
    expect(Buffer.concat(rest)).toEqual(payload)
  })

  it('gives the payload back whole when the header ends inside a later segment', async () => {
    const { client, server } = await pair()
    const wire = Buffer.concat([encodeProxyHeader(client6), payload])
    const reading = readProxyHeader(server)
    client.write(wire.subarray(0, 10))
    await received(server, 10)
    client.write(wire.subarray(10))
    expect((await reading).header).toEqual(client6)
    expect(await new ByteReader(server).bytes(payload.length)).toEqual(payload)
  })

  it.each<[string, ProxyHeader]>([
    ['a v2 LOCAL header', { version: 2, command: 'local', transport: 'unknown' }],
    ['a v2 UNSPEC header', { version: 2, command: 'proxy', transport: 'unknown' }],
    ['a v1 UNKNOWN header', { version: 1, command: 'proxy', transport: 'unknown' }],
  ])('keeps the socket peer for %s', async (_name, sent) => {
    const { client, server } = await pair()
    client.write(encodeProxyHeader(sent))
    const { header, remote } = await readProxyHeader(server)
    expect(header).toEqual(sent)
    expect(remote).toEqual({ address: client.localAddress, port: client.localPort })
    expect(remote.address).toBe('127.0.0.1')
  })

  it('rejects a connection that does not open with a header, leaving the socket to the caller', async () => {
    const { client, server } = await pair()
    const before = listeners(server)
    client.write(payload)
    const err = await rejection(readProxyHeader(server))
    expect(err).toBeInstanceOf(ProxyHeaderError)
    expect(err).toMatchObject({ code: 'ERR_PROTO_PROXY_HEADER', reason: 'invalid', message: expect.stringMatching(/first byte is 0x47/) })
    expect(server.destroyed).toBe(false)
    expect(listeners(server)).toEqual(before)
  })

  it('rejects a header of the other version', async () => {
    const { client, server } = await pair()
    client.write(encodeProxyHeader(client6))
    expect(await rejection(readProxyHeader(server, { mode: 'v1' }))).toMatchObject({ reason: 'invalid' })
  })

  it('rejects a header over maxBytes as soon as its length is known', async () => {
    const { client, server } = await pair()
    const wire = encodeProxyHeader(client6, { tlvs: [{ type: 0xe0, value: Buffer.alloc(100) }] })
    client.write(wire.subarray(0, 16))
    expect(await rejection(readProxyHeader(server, { maxBytes: 64 }))).toMatchObject({
      reason: 'too-large',
      message: expect.stringMatching(/takes 155 bytes, over maxBytes \(64\)/),
    })
  })

  it('rejects a v1 line without CRLF once maxBytes have come', async () => {
    const { client, server } = await pair()
    client.write(`PROXY UNKNOWN ${'a'.repeat(40)}`)
    expect(await rejection(readProxyHeader(server, { maxBytes: 32 }))).toMatchObject({ reason: 'too-large' })
  })

  it('rejects when the connection ends inside the header', async () => {
    const { client, server } = await pair()
    client.end('PROXY TCP4 ')
    expect(await rejection(readProxyHeader(server))).toMatchObject({ reason: 'closed', message: expect.stringMatching(/after 11 bytes/) })
  })

  it('rejects when the connection is reset, with the socket error as cause', async () => {
    const { client, server } = await pair()
    const reading = readProxyHeader(server)
    client.write('PROXY ')
    await received(server, 6)
    client.resetAndDestroy()
    const err = await rejection(reading)
    expect(err).toMatchObject({ reason: 'closed', cause: expect.objectContaining({ code: 'ECONNRESET' }) })
  })

  it('rejects at once on a socket already closed', async () => {
    const { server } = await pair()
    server.destroy()
    expect(await rejection(readProxyHeader(server))).toMatchObject({ reason: 'closed' })
  })

  it('times out with its own timer, and the socket stays open for the caller to close', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { client, server } = await pair()
    const reading = readProxyHeader(server, { timeout: 3000 })
    client.write('PROXY TCP4 ')
    await received(server, 11)
    vi.advanceTimersByTime(2999)
    expect(await settled(reading)).toBe(false)
    vi.advanceTimersByTime(1)
    expect(await rejection(reading)).toMatchObject({ reason: 'timeout', message: 'no complete PROXY header within 3000 ms' })
    expect(server.destroyed).toBe(false)
  })

  it('waits out a timeout longer than a Node timer can take', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { server } = await pair()
    const reading = readProxyHeader(server, { timeout: 2 ** 32 })
    vi.advanceTimersByTime(2 ** 32 - 1)
    expect(await settled(reading)).toBe(false)
    vi.advanceTimersByTime(1)
    expect(await rejection(reading)).toMatchObject({ reason: 'timeout' })
  })

  it('uses a 10 s timeout by default', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { server } = await pair()
    const reading = readProxyHeader(server)
    vi.advanceTimersByTime(9999)
    expect(await settled(reading)).toBe(false)
    vi.advanceTimersByTime(1)
    expect(await rejection(reading)).toMatchObject({ reason: 'timeout', message: 'no complete PROXY header within 10000 ms' })
  })

  it('clears its timer once the header is read', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { client, server } = await pair()
    const reading = readProxyHeader(server)
    expect(vi.getTimerCount()).toBe(1)
    client.write(encodeProxyHeader(client4))
    await reading
    expect(vi.getTimerCount()).toBe(0)
  })

  it('rejects with the reason when the signal aborts', async () => {
    const { server } = await pair()
    const controller = new AbortController()
    const reading = readProxyHeader(server, { signal: controller.signal })
    const reason = new Error('server closing')
    controller.abort(reason)
    expect(await rejection(reading)).toBe(reason)
    expect(await rejection(readProxyHeader(server, { signal: AbortSignal.abort(reason) }))).toBe(reason)
  })

  it.each([
    ['a timeout of 0', { timeout: 0 }],
    ['a fractional timeout', { timeout: 1.5 }],
    ['maxBytes under 16', { maxBytes: 15 }],
    ['an unknown mode', { mode: 'v3' as 'v1' }],
  ])('rejects %s with ERR_PROTO_USAGE', async (_name, opts) => {
    const { server } = await pair()
    expect(await rejection(readProxyHeader(server, opts))).toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('reads headers on many connections at once, each with its own payload', async () => {
    const opened = await Promise.all(Array.from({ length: 8 }, () => pair()))
    const results = await Promise.all(
      opened.map(async ({ client, server }, i) => {
        const sent: ProxyHeader = { ...client4, source: { address: `10.0.0.${i}`, port: 1000 + i } }
        client.write(Buffer.concat([encodeProxyHeader(sent), Buffer.from(`payload ${i}`)]))
        const { remote } = await readProxyHeader(server)
        return { remote, rest: String(await new ByteReader(server).bytes(9)) }
      }),
    )
    expect(results).toEqual(opened.map((_p, i) => ({ remote: { address: `10.0.0.${i}`, port: 1000 + i }, rest: `payload ${i}` })))
  })
})
