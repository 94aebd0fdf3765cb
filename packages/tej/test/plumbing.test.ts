// What the package takes from framing's core, seen through its own API: listening, connecting,
// TLS, unix sockets, the PROXY header, deadlines and the diagnostics channels.
import { Buffer } from 'node:buffer'
import dc from 'node:diagnostics_channel'
import { once } from 'node:events'
import net from 'node:net'
import { ByteReader, encodeProxyHeader } from '@proto/framing'
import type { PeerInfo, ProtoError } from '@proto/framing'
import { duplexPair, makeTestCertificate, silentServer, tempSocketPath } from '@proto/framing/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { encodeFrame } from '../src/codec.ts'
import { echoHandler } from '../src/demo.ts'
import { ErrorCode } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { TejConnection, TejContext, TejServer, TejServerOptions } from '../src/types.ts'
import { connectionPair, gate, heldSource, tejPair, wire } from './helpers.ts'

const servers: TejServer[] = []
const cleanups: (() => Promise<unknown>)[] = []

afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  await Promise.all(servers.splice(0).map((s) => s.close({ signal: AbortSignal.abort() })))
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()))
})

function server(options: TejServerOptions = { handler: echoHandler }): TejServer {
  const created = createServer(options)
  servers.push(created)
  return created
}

/** The message of the first frame that comes back on `conn`. */
async function reply(conn: TejConnection): Promise<string> {
  for await (const frame of conn) return Buffer.from(await frame.message()).toString()
  return expect.unreachable('the connection ended without a frame')
}

/** Whether `promise` has settled, checked without waiting for it. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending')
  return (await Promise.race([promise.then(() => true, () => true), Promise.resolve(marker)])) !== marker
}

const FAKE: Parameters<typeof vi.useFakeTimers>[0] = { toFake: ['setTimeout', 'clearTimeout', 'performance'] }
const LONG = 2 ** 31 + 5

describe('listening', () => {
  it('resolves listen() with what address() then gives, and clears it on close', async () => {
    const s = server()
    expect([s.listening, s.address()]).toEqual([false, null])
    const address = await s.listen({ host: '127.0.0.1', port: 0 })
    expect(address).toEqual({ host: '127.0.0.1', port: expect.any(Number) as number, family: 'IPv4' })
    expect(s.address()).toEqual(address)
    expect(s.listening).toBe(true)
    const closed = once(s, 'close')
    await s[Symbol.asyncDispose]()
    await closed
    expect([s.listening, s.address()]).toEqual([false, null])
  })

  it('listens on IPv6', async () => {
    const s = server()
    const { host, port, family } = await s.listen({ host: '::1', port: 0 })
    expect([host, family]).toEqual(['::1', 'IPv6'])
    const client = await connect({ host: '::1', port })
    await client.send({ message: 'v6' })
    expect(await reply(client)).toBe('v6')
    await client.close()
  })

  it('round-trips a frame over a unix socket, where the peer has no address', async () => {
    const socket = await tempSocketPath()
    cleanups.push(socket.remove)
    const s = server()
    const accepted = once(s, 'connection') as Promise<[TejConnection]>
    expect(await s.listen({ path: socket.path })).toEqual({ path: socket.path })
    const client = await connect({ path: socket.path })
    await client.send({ message: 'unix' })
    expect(await reply(client)).toBe('unix')
    expect((await accepted)[0].remote).toEqual({ address: '', port: 0 })
    await client.close()
  })

  it('gives a busy port as ERR_TEJ_LISTEN naming the address, with the cause', async () => {
    const { port } = await server().listen({ port: 0 })
    await expect(server().listen({ host: '127.0.0.1', port })).rejects.toMatchObject({
      name: 'TejListenError',
      code: ErrorCode.LISTEN,
      address: `127.0.0.1:${port}`,
      cause: { code: 'EADDRINUSE' },
    })
  })

  it('reports an accept failure as acceptError and keeps listening', async () => {
    const created = vi.spyOn(net, 'createServer')
    const s = server()
    const { port } = await s.listen({ port: 0 })
    const listening = created.mock.results.at(-1)?.value as net.Server
    const failures: ProtoError[] = []
    s.on('acceptError', (err) => failures.push(err))
    // What Node emits when accept(2) fails, as with EMFILE.
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' })
    listening.emit('error', emfile)
    expect(failures).toMatchObject([{ code: ErrorCode.LISTEN, cause: emfile }])
    const client = await connect({ port })
    await client.send({ message: 'still here' })
    expect(await reply(client)).toBe('still here')
    await client.close()
  })

  it('refuses a misspelt listen option', async () => {
    await expect(server().listen({ prot: 0 } as never)).rejects.toMatchObject({
      code: 'ERR_PROTO_USAGE',
      message: "unknown option 'prot' for listen() (did you mean 'port'?)",
    })
  })
})

describe('TLS', () => {
  it('round-trips frames with a certificate made for the test', async () => {
    const { key, cert, ca } = await makeTestCertificate()
    const s = server()
    const { port } = await s.listen({ port: 0, tls: { key, cert } })
    const client = await connect({ host: '127.0.0.1', port, tls: { ca } })
    await client.send({ files: [{ name: 'secret.txt', data: 'over TLS' }], message: 'tls' })
    expect(await reply(client)).toBe('tls')
    await client.close()
  })

  it('reports a failed handshake as clientError with the peer address, before any connection exists', async () => {
    const { key, cert } = await makeTestCertificate()
    const s = server()
    const { port } = await s.listen({ port: 0, tls: { key, cert } })
    const opened: TejConnection[] = []
    s.on('connection', (conn) => opened.push(conn))
    const reported = once(s, 'clientError') as Promise<[ProtoError, PeerInfo]>
    const raw = net.connect({ port, host: '127.0.0.1' })
    raw.on('error', () => undefined)
    await once(raw, 'connect')
    const localPort = raw.localPort
    raw.end(wire('tej_message_only/client/0'))
    const [err, peer] = await reported
    expect(err.code).toBe(ErrorCode.TLS_HANDSHAKE)
    expect(peer).toEqual({ address: '127.0.0.1', port: localPort })
    expect(opened).toEqual([])
  })

  it('fails a client that does not trust the certificate with ERR_TEJ_CONNECT', async () => {
    const { key, cert } = await makeTestCertificate()
    const { port } = await server().listen({ port: 0, tls: { key, cert } })
    await expect(connect({ port, tls: true })).rejects.toMatchObject({ code: ErrorCode.CONNECT, cause: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' } })
  })
})

describe('connecting', () => {
  it('takes an already connected stream as socket', async () => {
    const [mine, theirs] = duplexPair()
    const client = await connect({ socket: mine })
    const reader = new ByteReader(theirs)
    await client.send({ message: 'hello' })
    const expected = wire('tej_message_only/client/0')
    expect(await reader.bytes(expected.length)).toEqual(expected)
    expect(client.remote).toEqual({ address: '', port: 0 })
    theirs.write(wire('tej_message_only/server/0'))
    expect(await reply(client)).toBe('hello')
    await client.close({ signal: AbortSignal.abort() })
  })

  it('refuses two targets at once', async () => {
    const [mine] = duplexPair()
    await expect(connect({ port: 1, socket: mine })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('gives up with TejTimeoutError naming the target after connectTimeout', async () => {
    // A TLS handshake the silent peer never answers: the connect can only time out.
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    await expect(connect({ host: silent.host, port: silent.port, tls: true, connectTimeout: 20 })).rejects.toMatchObject({
      name: 'TimeoutError',
      code: ErrorCode.TIMEOUT,
      message: `connect to 127.0.0.1:${silent.port} timed out after 20 ms`,
    })
  })
})

describe('send deadlines', () => {
  it('honours a timeout of 2^31 + 5 ms exactly, then cuts the frame it was writing', async () => {
    vi.useFakeTimers(FAKE)
    const { conn, ended } = connectionPair()
    const held = gate()
    const sending = conn.send({ files: [{ name: 'f', stream: heldSource(held.promise, Buffer.from('late')), size: 4 }] }, { timeout: LONG })
    sending.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(LONG - 1)
    expect(await settled(sending)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await expect(sending).rejects.toMatchObject({
      name: 'TimeoutError',
      code: ErrorCode.TIMEOUT,
      message: `sending a frame with status 0 timed out after ${LONG} ms`,
      what: 'sending a frame with status 0',
      timeout: LONG,
    })
    // Its first bytes had gone out: a half-written frame cannot be completed.
    expect(await ended).toMatchObject({ code: ErrorCode.CLOSED, cause: { code: ErrorCode.TIMEOUT } })
  })

  it('takes a frame that timed out in the queue off it, and keeps the connection', async () => {
    const { conn, reader } = connectionPair()
    const held = gate()
    const first = conn.send({ files: [{ name: 'a', stream: heldSource(held.promise, Buffer.from('A')), size: 1 }] })
    const second = conn.send({ message: 'never' }, { timeout: 20 })
    await expect(second).rejects.toMatchObject({ name: 'TimeoutError', code: ErrorCode.TIMEOUT })
    const third = conn.send({ message: 'hello' })
    held.open()
    await Promise.all([first, third])
    const a = Buffer.from(encodeFrame({ status: 0, files: [{ name: 'a', data: Buffer.from('A') }], message: Buffer.alloc(0) }))
    const hello = wire('tej_message_only/client/0')
    expect(await reader.bytes(a.length + hello.length)).toEqual(Buffer.concat([a, hello]))
  })

  it('takes the connection default from timeout, and refuses a bad one', async () => {
    const { conn } = connectionPair({ timeout: 15 })
    const held = gate()
    await expect(conn.send({ files: [{ name: 'a', stream: heldSource(held.promise, Buffer.from('A')), size: 1 }] })).rejects.toMatchObject({
      code: ErrorCode.TIMEOUT,
      timeout: 15,
    })
    const fresh = connectionPair().conn
    // Refused through the promise, never thrown from the call.
    let refused: Promise<void> | undefined
    expect(() => (refused = fresh.send({ message: 'x' }, { timeout: -1 }))).not.toThrow()
    await expect(refused).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(fresh.send({ message: 'x' }, { timeout: 1.5 })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('gives the sends of connect() and of a server their timeout option as their default', async () => {
    const s = server({ timeout: 25 })
    const { port } = await s.listen({ host: '127.0.0.1', port: 0 })
    // A file whose source never yields: only a deadline ends its send.
    const held = new Promise<void>(() => undefined)
    const stuck = { files: [{ name: 'f', stream: heldSource(held, Buffer.from('x')), size: 1 }] }
    const client = await connect({ host: '127.0.0.1', port, timeout: 15 })
    cleanups.push(() => client.close({ signal: AbortSignal.abort() }))
    await expect(client.send(stuck)).rejects.toMatchObject({ code: ErrorCode.TIMEOUT, timeout: 15 })
    // Another connection, since a send cut inside its frame destroys the one it was on.
    const accepted = once(s, 'connection') as Promise<[TejConnection]>
    const other = await connect({ host: '127.0.0.1', port })
    cleanups.push(() => other.close({ signal: AbortSignal.abort() }))
    const [serverSide] = await accepted
    await expect(serverSide.send(stuck)).rejects.toMatchObject({ code: ErrorCode.TIMEOUT, timeout: 25 })
  })

  it('expires a timeout of 0 at once and sends nothing; Infinity waits', async () => {
    const { conn, reader } = connectionPair()
    await expect(conn.send({ message: 'never' }, { timeout: 0 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT, timeout: 0 })
    await conn.send({ message: 'hello' }, { timeout: Number.POSITIVE_INFINITY })
    const hello = wire('tej_message_only/client/0')
    expect(await reader.bytes(hello.length)).toEqual(hello)
  })

  it('rejects with the reason of an aborted signal', async () => {
    const { conn } = connectionPair()
    const reason = new Error('stop')
    await expect(conn.send({ message: 'x' }, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    const controller = new AbortController()
    const held = gate()
    const sending = conn.send({ files: [{ name: 'a', stream: heldSource(held.promise, Buffer.from('A')), size: 1 }] }, { signal: controller.signal })
    controller.abort(reason)
    await expect(sending).rejects.toBe(reason)
  })

  it('sends interval pings past 2^31 - 1 ms on time, and not before', async () => {
    vi.useFakeTimers(FAKE)
    const { b } = tejPair({ pingInterval: LONG })
    let pings = 0
    b.on('ping', () => (pings += 1))
    await vi.advanceTimersByTimeAsync(LONG - 1)
    expect(pings).toBe(0)
    await vi.advanceTimersByTimeAsync(1)
    await vi.waitFor(() => expect(pings).toBe(1))
    await vi.advanceTimersByTimeAsync(LONG)
    await vi.waitFor(() => expect(pings).toBe(2))
  })
})

describe('the PROXY protocol', () => {
  const source = { address: '198.51.100.9', port: 51_000 }

  it('reports the client the header names as remote, to the handler and on the connection', async () => {
    const contexts: TejContext[] = []
    const s = server({
      handler: async (frame, ctx) => {
        contexts.push(ctx)
        await echoHandler(frame, ctx)
      },
    })
    const { port } = await s.listen({ port: 0, proxyProtocol: 'v2' })
    const raw = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    const reader = new ByteReader(raw)
    const header = encodeProxyHeader({ version: 2, command: 'proxy', transport: 'tcp', source, destination: { address: '127.0.0.1', port } })
    raw.write(Buffer.concat([header, wire('tej_message_only/client/0')]))
    expect(await reader.bytes(23)).toEqual(wire('tej_message_only/server/0'))
    expect(contexts.map((ctx) => ctx.remote)).toEqual([source])
    expect([...s.connections].map((conn) => conn.remote)).toEqual([source])
    // A connection is the PeerInfo of its peer too, as in every package.
    expect([...s.connections].map((conn) => ({ address: conn.address, port: conn.port }))).toEqual([source])
    raw.destroy()
  })

  it('refuses a connection without a valid header, reporting the balancer address', async () => {
    const s = server()
    const { port } = await s.listen({ port: 0, proxyProtocol: 'any' })
    const reported = once(s, 'clientError') as Promise<[ProtoError, PeerInfo]>
    const raw = net.connect({ port, host: '127.0.0.1' })
    raw.on('error', () => undefined)
    raw.resume()
    await once(raw, 'connect')
    const localPort = raw.localPort
    raw.write(wire('tej_message_only/client/0'))
    const [err, peer] = await reported
    expect(err).toMatchObject({ name: 'TejProxyHeaderError', code: ErrorCode.PROXY_HEADER, reason: 'invalid' })
    expect(peer).toEqual({ address: '127.0.0.1', port: localPort })
    await once(raw, 'close')
  })
})

describe('diagnostics channels', () => {
  const names = ['server:listening', 'connection:open', 'connection:close', 'request:start', 'request:end', 'request:error'] as const

  /** Every message on the six channels, in order, with its channel's name. */
  function record(): { events: { name: string; message: Record<string, unknown> }[]; stop: () => void } {
    const events: { name: string; message: Record<string, unknown> }[] = []
    const subscriptions = names.map((name) => {
      const listener = (message: unknown): void => {
        events.push({ name, message: message as Record<string, unknown> })
      }
      dc.subscribe(`proto:tej:${name}`, listener)
      return () => dc.unsubscribe(`proto:tej:${name}`, listener)
    })
    return { events, stop: () => subscriptions.forEach((unsubscribe) => unsubscribe()) }
  }

  it('publishes listening, connections and each frame both ways, in order, with the side and the peer', async () => {
    const { events, stop } = record()
    try {
      const failing = new Error('the handler fails on status 9')
      const s = server({
        handler: async (frame, ctx) => {
          if (frame.status === 9) throw failing
          await echoHandler(frame, ctx)
        },
      })
      const address = await s.listen({ port: 0 })
      const serverSide = once(s, 'connection') as Promise<[TejConnection]>
      const client = await connect({ port: address.port })
      const [accepted] = await serverSide
      await client.send({ status: 9, message: 'fails' })
      await client.send({ status: 1, files: [{ name: 'f', data: 'x' }], message: 'echo' })
      expect(await reply(client)).toBe('echo')
      await client.close()
      await Promise.all([client.closed, accepted.closed])
      const seen = events.map(({ name, message }) => {
        const request = message['request'] as { direction: string; status: number } | undefined
        return `${String(message['side'])} ${name}${request === undefined ? '' : ` ${request.direction} ${request.status}`}`
      })
      const sides = (side: string): string[] => seen.filter((line) => line.startsWith(side))
      expect(seen[0]).toBe('server server:listening')
      expect(sides('client')).toEqual([
        'client connection:open',
        'client request:start sent 9',
        'client request:end sent 9',
        'client request:start sent 1',
        'client request:end sent 1',
        'client request:start received 1',
        'client request:end received 1',
        'client connection:close',
      ])
      expect(sides('server').slice(1)).toEqual([
        'server connection:open',
        'server request:start received 9',
        'server request:error received 9',
        'server request:start received 1',
        'server request:start sent 1',
        'server request:end sent 1',
        'server request:end received 1',
        'server connection:close',
      ])
      const listening = events[0]?.message
      expect(listening).toEqual({ side: 'server', server: s, address })
      for (const { name, message } of events.slice(1)) {
        const connection = message['side'] === 'client' ? client : accepted
        expect(message['connection'], name).toBe(connection)
        expect(message['remote'], name).toBe(connection.remote)
      }
      const failure = events.find(({ name }) => name === 'request:error')?.message
      expect(failure).toMatchObject({ error: failing, request: { direction: 'received', status: 9, fileCount: 0 } })
      // The same object from start to end, so that subscribers can pair them.
      const starts = events.filter(({ name }) => name === 'request:start').map(({ message }) => message['request'])
      const ends = events.filter(({ name }) => name !== 'request:start' && name.startsWith('request:')).map(({ message }) => message['request'])
      expect(new Set(ends)).toEqual(new Set(starts))
    } finally {
      stop()
    }
  })

  it('reports a connection that failed with its error, and the frame it was in', async () => {
    const { events, stop } = record()
    try {
      const { peer, ended } = connectionPair({ handler: (frame) => frame.buffer().then(() => undefined) })
      peer.end(wire('tej_large_file_100000/server/0').subarray(0, 1000))
      const error = await ended
      expect(events.map(({ name }) => name)).toEqual(['connection:open', 'request:start', 'request:error', 'connection:close'])
      expect(events[2]?.message).toMatchObject({ error, request: { direction: 'received', status: 0, fileCount: 1 } })
      expect(events[3]?.message).toMatchObject({ side: 'client', error })
    } finally {
      stop()
    }
  })

  it('publishes nothing, and builds no message, while nobody subscribes', async () => {
    const publishes = names.map((name) => vi.spyOn(dc.channel(`proto:tej:${name}`), 'publish'))
    const s = server()
    const { port } = await s.listen({ port: 0 })
    const client = await connect({ port })
    await client.send({ message: 'quiet' })
    expect(await reply(client)).toBe('quiet')
    await client.close()
    await client.closed
    for (const publish of publishes) expect(publish).not.toHaveBeenCalled()
  })
})
