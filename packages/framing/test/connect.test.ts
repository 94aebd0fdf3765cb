import type { Buffer } from 'node:buffer'
import { once } from 'node:events'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { getDefaultHighWaterMark, setDefaultHighWaterMark } from 'node:stream'
import tls from 'node:tls'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { CONNECT_OPTION_NAMES, connectStream, describeTarget } from '../src/connect.ts'
import { SOCKET_HIGH_WATER_MARK } from '../src/constants.ts'
import { ConnectError, PROTO_ERRORS, TimeoutError } from '../src/errors.ts'
import { duplexPair } from '../src/testing/duplex-pair.ts'
import { makeTestCertificate } from '../src/testing/certificate.ts'
import type { TestCertificate } from '../src/testing/certificate.ts'
import { silentServer } from '../src/testing/silent-server.ts'
import { tempSocketPath } from '../src/testing/socket-path.ts'
import { rejection } from './helpers.ts'

class KarpTimeoutError extends TimeoutError {
  override readonly code = 'ERR_KARP_TIMEOUT'
}
class KarpConnectError extends ConnectError {
  override name = 'KarpConnectError'
  override readonly code = 'ERR_KARP_CONNECT'
}
const KARP = { ...PROTO_ERRORS, Timeout: KarpTimeoutError, Connect: KarpConnectError }

let cert: TestCertificate
beforeAll(async () => {
  cert = await makeTestCertificate()
})

const closers: (() => unknown)[] = []
afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  for (const close of closers.splice(0).reverse()) await close()
})

/** An echo server (TCP or TLS) on `where`, closed after the test. */
async function echoServer(where: { host: string } | { path: string }, secure = false): Promise<net.Server> {
  const onSocket = (socket: net.Socket): void => {
    socket.on('error', () => undefined)
    socket.pipe(socket)
  }
  const server = secure ? tls.createServer({ key: cert.key, cert: cert.cert }, onSocket) : net.createServer(onSocket)
  server.listen('path' in where ? { path: where.path } : { host: where.host, port: 0 })
  await once(server, 'listening')
  closers.push(() => new Promise((resolve) => server.close(resolve)))
  return server
}

const portOf = (server: net.Server): number => (server.address() as net.AddressInfo).port

async function echoes(stream: Duplex, text: string): Promise<string> {
  closers.push(() => stream.destroy())
  stream.write(text)
  const [chunk] = (await once(stream, 'data')) as [Buffer]
  return chunk.toString()
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = portOf(server)
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('describeTarget', () => {
  it('writes host and port, brackets an IPv6 address, and gives a path as it is', () => {
    expect(describeTarget({ host: '127.0.0.1', port: 7755 })).toBe('127.0.0.1:7755')
    expect(describeTarget({ host: '::1', port: 7755 })).toBe('[::1]:7755')
    expect(describeTarget({ host: 'example.org', port: 1 })).toBe('example.org:1')
    expect(describeTarget({ path: '/path/to.sock' })).toBe('/path/to.sock')
  })
})

describe('connectStream', () => {
  it('connects over TCP to the package defaults, half-open, without Nagle and reading ahead 16 KiB', async () => {
    const server = await echoServer({ host: '127.0.0.1' })
    const socket = (await connectStream(undefined, { port: portOf(server) })) as net.Socket
    expect(socket).toBeInstanceOf(net.Socket)
    expect(socket.remoteAddress).toBe('127.0.0.1')
    expect(socket.allowHalfOpen).toBe(true)
    expect(socket.readableHighWaterMark).toBe(SOCKET_HIGH_WATER_MARK)
    expect(await echoes(socket, 'over tcp')).toBe('over tcp')
  })

  it("reads ahead 16 KiB over TCP, TLS and a unix socket where Node's own default is larger", async () => {
    // Node 22 raised the default to 64 KiB: raising it here makes this test fail on Node 20 too.
    const before = getDefaultHighWaterMark(false)
    setDefaultHighWaterMark(false, 4 * SOCKET_HIGH_WATER_MARK)
    closers.push(() => setDefaultHighWaterMark(false, before))
    const server = await echoServer({ host: '127.0.0.1' })
    const secure = await echoServer({ host: '127.0.0.1' }, true)
    const { path, remove } = await tempSocketPath()
    closers.push(remove)
    await echoServer({ path })
    const sockets = [
      await connectStream(undefined, { port: portOf(server) }),
      await connectStream({ port: portOf(secure), tls: { ca: cert.ca } }, { port: 1 }),
      await connectStream({ path }, { port: 1 }),
    ]
    for (const socket of sockets) {
      closers.push(() => socket.destroy())
      expect(socket.readableHighWaterMark).toBe(SOCKET_HIGH_WATER_MARK)
    }
  })

  it('lets the options override the package host and port', async () => {
    const server = await echoServer({ host: '127.0.0.1' })
    const socket = await connectStream({ host: '127.0.0.1', port: portOf(server) }, { host: '192.0.2.1', port: 1 })
    expect(await echoes(socket, 'override')).toBe('override')
  })

  it('connects to an IPv6 literal', async () => {
    const server = await echoServer({ host: '::1' })
    const socket = (await connectStream({ host: '::1', port: portOf(server) }, { port: 1 })) as net.Socket
    expect(socket.remoteAddress).toBe('::1')
    expect(socket.remoteFamily).toBe('IPv6')
    expect(await echoes(socket, 'over ipv6')).toBe('over ipv6')
  })

  it('connects to a unix socket', async () => {
    const { path, remove } = await tempSocketPath()
    closers.push(remove)
    await echoServer({ path })
    const socket = await connectStream({ path }, { port: 1 })
    expect(await echoes(socket, 'over a unix socket')).toBe('over a unix socket')
  })

  it('runs TLS with a certificate made at test time, on TCP and on a unix socket', async () => {
    const server = await echoServer({ host: '127.0.0.1' }, true)
    const socket = (await connectStream({ port: portOf(server), tls: { ca: cert.ca } }, { port: 1 })) as tls.TLSSocket
    expect(socket).toBeInstanceOf(tls.TLSSocket)
    expect(socket.authorized).toBe(true)
    expect(socket.readableHighWaterMark).toBe(SOCKET_HIGH_WATER_MARK)
    expect(await echoes(socket, 'over tls')).toBe('over tls')
    const { path, remove } = await tempSocketPath()
    closers.push(remove)
    await echoServer({ path }, true)
    const overPath = (await connectStream({ path, tls: { ca: cert.ca, servername: 'localhost' } }, { port: 1 })) as tls.TLSSocket
    expect(overPath.authorized).toBe(true)
    expect(await echoes(overPath, 'tls over a path')).toBe('tls over a path')
  })

  it('hands back a given socket as it is', async () => {
    const [mine] = duplexPair()
    expect(await connectStream({ socket: mine }, { port: 1 })).toBe(mine)
  })

  it('runs TLS over a given socket', async () => {
    const server = await echoServer({ host: '127.0.0.1' }, true)
    const raw = net.connect({ host: '127.0.0.1', port: portOf(server) })
    await once(raw, 'connect')
    const socket = (await connectStream({ socket: raw, tls: { ca: cert.ca } }, { port: 1 })) as tls.TLSSocket
    expect(socket).not.toBe(raw)
    expect(socket.authorized).toBe(true)
    expect(await echoes(socket, 'tls over a tunnel')).toBe('tls over a tunnel')
  })

  it('sends the host as TLS server name when it is a name, and none for an address', async () => {
    const seen: tls.ConnectionOptions[] = []
    const real = tls.connect.bind(tls)
    vi.spyOn(tls, 'connect').mockImplementation(((options: tls.ConnectionOptions) => {
      seen.push(options)
      // Nothing is dialled: the handshake goes into an in-memory stream and is aborted.
      const [end, other] = duplexPair()
      other.on('error', () => undefined)
      return real({ ...options, host: undefined, port: undefined, socket: end })
    }) as typeof tls.connect)
    for (const host of ['proto.example', '192.0.2.7', '2001:db8::1']) {
      const controller = new AbortController()
      const connecting = connectStream({ host, port: 443, tls: true, signal: controller.signal }, { port: 1 })
      controller.abort(new Error('enough'))
      expect(await rejection(connecting)).toMatchObject({ message: 'enough' })
    }
    expect(seen.map((options) => options.servername)).toEqual(['proto.example', undefined, undefined])
    const explicit = new AbortController()
    const connecting = connectStream({ host: 'a.example', port: 443, tls: { servername: 'b.example' }, signal: explicit.signal }, { port: 1 })
    explicit.abort()
    await rejection(connecting)
    expect(seen.at(-1)?.servername).toBe('b.example')
  })

  it("fails with the package's ConnectError naming the target, with the net error as cause", async () => {
    const port = await closedPort()
    const err = await rejection(connectStream({ port }, { port: 1, errors: KARP }))
    expect(err).toMatchObject({
      name: 'KarpConnectError',
      code: 'ERR_KARP_CONNECT',
      target: `127.0.0.1:${port}`,
      message: `cannot connect to 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
      cause: expect.objectContaining({ code: 'ECONNREFUSED' }),
    })
    const missing = await rejection(connectStream({ path: '/nonexistent/proto.sock' }, { port: 1 }))
    expect(missing).toMatchObject({ code: 'ERR_PROTO_CONNECT', target: '/nonexistent/proto.sock', cause: expect.objectContaining({ code: 'ENOENT' }) })
    const v6 = await rejection(connectStream({ host: '::1', port }, { port: 1 }))
    expect(v6).toMatchObject({ target: `[::1]:${port}` })
  })

  it('fails with ConnectError when the server certificate is not trusted, and destroys the socket', async () => {
    const server = await echoServer({ host: '127.0.0.1' }, true)
    const closed = new Promise((resolve) => server.once('connection', (raw: net.Socket) => raw.on('close', resolve)))
    const err = await rejection(connectStream({ port: portOf(server), tls: true }, { port: 1 }))
    expect(err).toMatchObject({ code: 'ERR_PROTO_CONNECT', cause: expect.objectContaining({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }) })
    // Our end is destroyed, so the server's connection closes too.
    await closed
  })

  it("times out a TLS handshake the peer never answers with the package's TimeoutError, at connectTimeout", async () => {
    const silent = await silentServer()
    closers.push(() => silent.close())
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const accepted = silent.accepted()
    const connecting = connectStream({ port: silent.port, tls: { ca: cert.ca } }, { port: 1, errors: KARP })
    connecting.catch(() => undefined)
    const socket = await accepted
    const gone = new Promise((resolve) => socket.on('close', resolve))
    await vi.advanceTimersByTimeAsync(29_999)
    expect(socket.destroyed).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    const err = await rejection(connecting)
    expect(err).toBeInstanceOf(KarpTimeoutError)
    expect(err).toMatchObject({
      name: 'TimeoutError',
      code: 'ERR_KARP_TIMEOUT',
      what: `connect to 127.0.0.1:${silent.port}`,
      message: `connect to 127.0.0.1:${silent.port} timed out after 30000 ms`,
      timeout: 30_000,
    })
    // Our end is destroyed, so the silent peer sees the connection go.
    await gone
  })

  it('honours a connectTimeout of 2^31 + 5 ms exactly, and the package default', async () => {
    const silent = await silentServer()
    closers.push(() => silent.close())
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const long = 2 ** 31 + 5
    const connecting = connectStream({ port: silent.port, tls: true, connectTimeout: long }, { port: 1 })
    connecting.catch(() => undefined)
    const byDefault = connectStream({ port: silent.port, tls: true }, { port: 1, connectTimeout: 50 })
    byDefault.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(50)
    expect(await rejection(byDefault)).toMatchObject({ code: 'ERR_PROTO_TIMEOUT', timeout: 50 })
    await vi.advanceTimersByTimeAsync(long - 51)
    let settled = false
    connecting.then(
      () => (settled = true),
      () => (settled = true),
    )
    await Promise.resolve()
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await rejection(connecting)).toMatchObject({ code: 'ERR_PROTO_TIMEOUT', timeout: long })
  })

  it('counts the TCP connect in the deadline', async () => {
    const server = await echoServer({ host: '127.0.0.1' })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const connecting = connectStream({ port: portOf(server), connectTimeout: 10 }, { port: 1 })
    connecting.catch(() => undefined)
    // The timers run before the connect can complete: it needs a turn of the event loop.
    vi.advanceTimersByTime(10)
    expect(await rejection(connecting)).toMatchObject({ code: 'ERR_PROTO_TIMEOUT', what: `connect to 127.0.0.1:${portOf(server)}` })
  })

  it('fails at once for a connectTimeout of 0 or an aborted signal, opening nothing', async () => {
    const opened = vi.spyOn(net, 'connect')
    expect(await rejection(connectStream({ port: 9, connectTimeout: 0 }, { port: 1 }))).toMatchObject({ code: 'ERR_PROTO_TIMEOUT', timeout: 0 })
    const reason = new Error('no')
    expect(await rejection(connectStream({ port: 9, signal: AbortSignal.abort(reason) }, { port: 1 }))).toBe(reason)
    expect(opened).not.toHaveBeenCalled()
  })

  it('rejects with the reason of an abort during the handshake, and destroys the sockets', async () => {
    const silent = await silentServer()
    closers.push(() => silent.close())
    const controller = new AbortController()
    const raw = net.connect({ host: '127.0.0.1', port: silent.port })
    await once(raw, 'connect')
    const connecting = connectStream({ socket: raw, tls: true, signal: controller.signal }, { port: 1 })
    const accepted = await silent.accepted()
    controller.abort('stop')
    expect(await rejection(connecting)).toBe('stop')
    expect(raw.destroyed).toBe(true)
    if (!accepted.closed) await once(accepted, 'close')
  })

  it.each([
    ['host and path', { host: '127.0.0.1', path: '/x.sock' }, 'connect to one of host/port, path or socket, not host/port and path'],
    ['path and socket', { path: '/x.sock', socket: duplexPair()[0] }, 'connect to one of host/port, path or socket, not path and socket'],
    ['port and socket', { port: 7755, socket: duplexPair()[0] }, 'connect to one of host/port, path or socket, not host/port and socket'],
    ['port 0', { port: 0 }, 'port must be an integer from 1 to 65535, got 0'],
    ['port 65536', { port: 65_536 }, 'port must be an integer from 1 to 65535, got 65536'],
    ['an empty host', { host: '' }, 'host must be a non-empty string'],
    ['an empty path', { path: '' }, 'path must be a non-empty string'],
    ['a socket that is no stream', { socket: {} as Duplex }, 'socket must be a connected Duplex stream'],
    ['tls as a string', { tls: 'yes' as unknown as boolean }, 'tls must be true or an object of node:tls connect options'],
    ['a negative connectTimeout', { connectTimeout: -1 }, 'connectTimeout must be an integer from 0 to 2^53 - 1 (ms) or Infinity, got -1'],
  ])('refuses %s with ERR_PROTO_USAGE', async (_what, options, message) => {
    expect(await rejection(connectStream(options, { port: 7755 }))).toMatchObject({ code: 'ERR_PROTO_USAGE', message })
  })

  it('lists every connect option for checkOptions', () => {
    expect(Object.keys(CONNECT_OPTION_NAMES).sort()).toEqual(['connectTimeout', 'host', 'path', 'port', 'signal', 'socket', 'tls'])
  })
})

afterAll(() => {
  vi.useRealTimers()
})
