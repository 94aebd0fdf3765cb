import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import type { KorvConnectOptions } from '../src/client.ts'
import { encodeMessage } from '../src/codec.ts'
import {
  DEFAULT_CALL_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_LIMITS,
  DEFAULT_MAX_AUTH_ATTEMPTS,
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_JSON_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PORT,
} from '../src/constants.ts'
import { ErrorCode } from '../src/errors.ts'
import type { KorvError } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import { fingerprintOf, keyPair, noise, openRaw, pythonGzip, startServer, startStub } from './helpers.ts'
import type { TestServer } from './helpers.ts'

const options = (t: { port: number }, extra: Partial<KorvConnectOptions> = {}): KorvConnectOptions => ({
  host: '127.0.0.1',
  port: t.port,
  privateKey: keyPair('ed25519', 1).private,
  hostKeyFingerprint: fingerprintOf(keyPair('ed25519', 0).public),
  ...extra,
})

afterEach(() => {
  vi.useRealTimers()
})

describe('defaults', () => {
  it('are the ones spec §4 gives', () => {
    expect(DEFAULT_PORT).toBe(8022)
    expect(DEFAULT_LIMITS).toEqual({
      maxMessageBytes: 32_768,
      maxJsonBytes: 1_048_576,
      maxInFlight: 1024,
      maxChannels: 16,
      maxChannelReplyBytes: 1_048_576,
      maxConnectionReplyBytes: 4_194_304,
      maxAuthAttempts: 6,
      maxConnections: 1024,
      handshakeTimeout: 30_000,
      idleTimeout: 600_000,
    })
    expect([DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_CHANNELS]).toEqual([32_768, 1_048_576, 1024, 16])
    expect([DEFAULT_MAX_AUTH_ATTEMPTS, DEFAULT_MAX_CONNECTIONS, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_CALL_TIMEOUT]).toEqual([
      6, 1024, 30_000, 600_000, 30_000,
    ])
  })

  it('refuse a bad limit with ERR_PROTO_USAGE', async () => {
    const key = keyPair('ed25519', 0).private
    for (const limits of [{ maxChannels: 0 }, { handshakeTimeout: 0 }, { idleTimeout: -1 }, { idleTimeout: 1.5 }, { maxJsonBytes: -1 }, { maxConnections: Number.POSITIVE_INFINITY }]) {
      expect(() => createServer({ hostKeys: [key], authorizedKeys: '', limits })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    }
    expect(() => createServer({ hostKeys: [], authorizedKeys: '' })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    await expect(connect(options({ port: 1 }, { limits: { maxInFlight: 0 } }))).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect(options({ port: 1 }, { timeout: -5 }))).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('allow one handler per route and only the four verbs', () => {
    const server = createServer({ hostKeys: [keyPair('ed25519', 0).private], authorizedKeys: '' })
    server.handle('GET', '/a', () => undefined)
    expect(() => server.handle('GET', '/a', () => undefined)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => server.handle('PATCH' as 'GET', '/a', () => undefined)).toThrow(expect.objectContaining({ code: ErrorCode.UNKNOWN_VERB }))
  })
})

describe('message size', () => {
  it('maxMessageBytes: a larger member gets 400 Message too large, then the channel closes', async () => {
    const t = await startServer({ limits: { maxMessageBytes: 1000 } })
    const raw = await openRaw(t.port, t.clientKey.private)
    const reported = t.nextClientError()
    raw.send(pythonGzip(JSON.stringify({ id: 1, verb: 'GET', resource: '/echo', body: noise(2000).toString('base64') })))
    expect(await raw.next()).toMatchObject({ request_id: 0, code: 400, body: { message: 'Message too large' } })
    await raw.ended
    expect(await reported).toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE })
    await raw.close()
    await t.close()
  })

  it('maxJsonBytes: a gzip bomb stops at the limit and gets 400 Message too large', async () => {
    const t = await startServer()
    const raw = await openRaw(t.port, t.clientKey.private)
    const bomb = pythonGzip(`{"id":1,"verb":"GET","resource":"/echo","body":"${' '.repeat(DEFAULT_MAX_JSON_BYTES)}"}`)
    expect(bomb.length).toBeLessThan(DEFAULT_MAX_MESSAGE_BYTES)
    raw.send(bomb)
    expect(await raw.next()).toMatchObject({ request_id: 0, code: 400, body: { message: 'Message too large' } })
    await raw.ended
    await raw.close()
    await t.close()
  })

  it('a client refuses an oversized reply and closes', async () => {
    const stub = await startStub(() => [pythonGzip(JSON.stringify({ id: 1, request_id: 2, code: 200, body: noise(3000).toString('hex') }))])
    const client = await connect(options(stub, { limits: { maxMessageBytes: 1000 } }))
    const protocolError = once(client, 'protocolError') as Promise<[KorvError]>
    await expect(client.get('/x')).rejects.toMatchObject({ code: ErrorCode.CLOSED, cause: { code: ErrorCode.MESSAGE_TOO_LARGE } })
    expect((await protocolError)[0]).toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE })
    await client.closed
    await stub.close()
  })

  it('a client stops a gzip bomb at maxJsonBytes', async () => {
    const stub = await startStub(() => [pythonGzip(Buffer.alloc(2000, 0x20))])
    const client = await connect(options(stub, { limits: { maxJsonBytes: 1000 } }))
    const protocolError = once(client, 'protocolError') as Promise<[KorvError]>
    const call = client.get('/x')
    expect((await protocolError)[0]).toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE })
    await expect(call).rejects.toMatchObject({ code: ErrorCode.CLOSED })
    await stub.close()
  })
})

describe('concurrency limits', () => {
  it('maxInFlight: the server stops reading past it and catches up when handlers finish', async () => {
    let running = 0
    let peak = 0
    let started = 0
    const gates: (() => void)[] = []
    const waiters: { count: number; resolve: () => void }[] = []
    const startedAtLeast = (count: number): Promise<void> =>
      new Promise((resolve) => (started >= count ? resolve() : waiters.push({ count, resolve })))
    const t = await startServer({
      limits: { maxInFlight: 2 },
      handlers: {
        GET: {
          '/work': async () => {
            running++
            started++
            peak = Math.max(peak, running)
            for (const w of waiters.filter((w) => started >= w.count)) w.resolve()
            await new Promise<void>((resolve) => gates.push(resolve))
            running--
          },
        },
      },
    })
    const client = await connect(options(t))
    const calls = Array.from({ length: 5 }, () => client.get('/work'))
    await startedAtLeast(2)
    for (let next = 3; next <= 5; next++) {
      gates.shift()?.()
      await startedAtLeast(next)
    }
    for (const gate of gates.splice(0)) gate()
    expect((await Promise.all(calls)).map((r) => r.code)).toEqual([200, 200, 200, 200, 200])
    expect(peak).toBe(2)
    await client.close()
    await t.close()
  })

  it('maxInFlight: a client refuses a call past it', async () => {
    const t = await startServer({ handlers: { GET: { '/hang': () => new Promise<never>(() => {}) } } })
    const client = await connect(options(t, { limits: { maxInFlight: 1 } }))
    const first = client.get('/hang')
    await expect(client.get('/hang')).rejects.toMatchObject({ code: ErrorCode.TOO_MANY_IN_FLIGHT })
    await client.close({ signal: AbortSignal.abort() })
    await expect(first).rejects.toMatchObject({ code: ErrorCode.CLOSED })
    await t.close({ signal: AbortSignal.abort() })
  })

  it('maxChannels: a channel past it is refused, the others go on', async () => {
    const t = await startServer({ limits: { maxChannels: 1 } })
    const raw = await openRaw(t.port, t.clientKey.private)
    const reported = t.nextClientError()
    await expect(
      new Promise((resolve, reject) => raw.ssh.forwardOut('', 0, '127.0.0.1', t.port, (err, ch) => (err ? reject(err) : resolve(ch)))),
    ).rejects.toThrow()
    expect(await reported).toMatchObject({ code: ErrorCode.TOO_MANY_CHANNELS })
    raw.request({ id: 1, verb: 'GET', resource: '/hello' })
    expect(await raw.next()).toMatchObject({ code: 200 })
    await raw.close()
    await t.close()
  })

  it('maxConnections: a connection past it is closed at once and reported', async () => {
    const t = await startServer({ limits: { maxConnections: 1 } })
    const first = await connect(options(t))
    const reported = t.nextClientError()
    await expect(connect(options(t))).rejects.toMatchObject({ code: ErrorCode.CONNECT })
    expect(await reported).toMatchObject({ code: ErrorCode.TOO_MANY_CONNECTIONS })
    expect((await first.get('/hello')).code).toBe(200)
    await first.close()
    await t.close()
  })
})

describe('timeouts', () => {
  it('handshakeTimeout: the server drops a peer that does not authenticate in time', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const t = await startServer()
    const socket = net.connect(t.port, '127.0.0.1')
    await once(socket, 'data')
    const reported = t.nextClientError()
    const closed = once(socket, 'close')
    vi.advanceTimersByTime(DEFAULT_HANDSHAKE_TIMEOUT)
    expect(await reported).toMatchObject({ code: ErrorCode.HANDSHAKE_TIMEOUT })
    await closed
    vi.useRealTimers()
    await t.close()
  })

  it('connectTimeout: connect() gives up on a server that never answers, with ERR_KORV_TIMEOUT', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const silent = net.createServer()
    silent.listen(0, '127.0.0.1')
    await once(silent, 'listening')
    const accepted = once(silent, 'connection') as Promise<[net.Socket]>
    const attempt = connect(options(silent.address() as net.AddressInfo, { connectTimeout: 2 ** 31 + 5 }))
    const rejected = attempt.then(() => 'resolved', (err: unknown) => err)
    const [socket] = await accepted
    await vi.advanceTimersByTimeAsync(2 ** 31 + 4)
    expect(await Promise.race([rejected, Promise.resolve('pending')])).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    expect(await rejected).toMatchObject({ code: ErrorCode.TIMEOUT, name: 'TimeoutError' })
    socket.destroy()
    silent.close()
  })

  it('idleTimeout: the server ends a connection without requests, not one with work in flight', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    let release!: () => void
    const t: TestServer = await startServer({
      limits: { idleTimeout: 1000 },
      handlers: { GET: { '/slow': () => new Promise<void>((resolve) => (release = resolve)) } },
    })
    const client = await connect(options(t))
    const slow = client.get('/slow', null, { timeout: 10_000_000 })
    await vi.waitUntil(() => typeof release === 'function', { interval: 1, timeout: 5000 })
    vi.advanceTimersByTime(5000)
    release()
    expect(await slow).toEqual({ code: 200, body: null })
    expect(t.clientErrors).toEqual([])
    const reported = t.nextClientError()
    vi.advanceTimersByTime(1000)
    expect(await reported).toMatchObject({ code: ErrorCode.IDLE_TIMEOUT })
    await client.closed
    vi.useRealTimers()
    await t.close()
  })

  it('handshakeTimeout and idleTimeout past 2^31 - 1 ms wait their whole time, not one millisecond', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const long = 2 ** 31 + 1000
    const t = await startServer({ limits: { handshakeTimeout: long, idleTimeout: long } })
    const socket = net.connect(t.port, '127.0.0.1')
    socket.on('error', () => {})
    await once(socket, 'data')
    const client = await connect(options(t))
    await vi.advanceTimersByTimeAsync(2 ** 31)
    expect(t.clientErrors).toEqual([])
    // Both limits end at 2^31 + 1000 ms from their start, which were a few fake milliseconds apart.
    await vi.advanceTimersByTimeAsync(2000)
    await client.closed
    expect(t.clientErrors.map(({ err }) => err.code).sort()).toEqual([ErrorCode.HANDSHAKE_TIMEOUT, ErrorCode.IDLE_TIMEOUT])
    socket.destroy()
    vi.useRealTimers()
    await t.close()
  })

  it('idleTimeout 0 is off', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const t = await startServer({ limits: { idleTimeout: 0 } })
    const client = await connect(options(t))
    await vi.advanceTimersByTimeAsync(DEFAULT_IDLE_TIMEOUT * 10)
    expect(await client.get('/hello')).toMatchObject({ code: 200 })
    expect(t.clientErrors).toEqual([])
    vi.useRealTimers()
    await client.close()
    await t.close()
  })

  it('timeout: a call rejects with a TimeoutError after its timeout, the default being 30 s', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const t = await startServer({ handlers: { GET: { '/never': () => new Promise<never>(() => {}) } } })
    const client = await connect(options(t))
    let settled = false
    const byDefault = client.get('/never').finally(() => (settled = true))
    const short = client.get('/never', null, { timeout: 100 })
    vi.advanceTimersByTime(100)
    await expect(short).rejects.toMatchObject({ name: 'TimeoutError', code: ErrorCode.TIMEOUT, message: 'GET /never timed out after 100 ms' })
    let longSettled = false
    const long = client.get('/never', null, { timeout: 2 ** 31 + 5 }).finally(() => (longSettled = true))
    vi.advanceTimersByTime(DEFAULT_CALL_TIMEOUT - 101)
    await Promise.resolve()
    expect(settled).toBe(false)
    vi.advanceTimersByTime(1)
    await expect(byDefault).rejects.toMatchObject({ name: 'TimeoutError' })
    vi.advanceTimersByTime(2 ** 31 + 5 - DEFAULT_CALL_TIMEOUT + 100 - 1)
    await Promise.resolve()
    expect(longSettled).toBe(false)
    vi.advanceTimersByTime(1)
    await expect(long).rejects.toMatchObject({ code: ErrorCode.TIMEOUT })
    vi.useRealTimers()
    await client.close({ signal: AbortSignal.abort() })
    await t.close({ signal: AbortSignal.abort() })
  })
})

describe('server close', () => {
  it('lets running handlers reply, answers new requests 500 closing, then disconnects', async () => {
    let release!: () => void
    let started!: () => void
    const running = new Promise<void>((resolve) => (started = resolve))
    const t = await startServer({
      handlers: {
        GET: {
          '/slow': async () => {
            started()
            await new Promise<void>((resolve) => (release = resolve))
            return { code: 200, body: 'done' }
          },
        },
      },
    })
    const raw = await openRaw(t.port, t.clientKey.private)
    raw.request({ id: 1, verb: 'GET', resource: '/slow' })
    await running
    const closing = t.server.close()
    raw.send(encodeMessage({ id: 2, verb: 'GET', resource: '/hello' }))
    expect(await raw.next()).toMatchObject({ request_id: 2, code: 500, body: { message: 'closing' } })
    release()
    expect(await raw.next()).toMatchObject({ request_id: 1, code: 200, body: 'done' })
    await closing
    await raw.closed
  })
})
