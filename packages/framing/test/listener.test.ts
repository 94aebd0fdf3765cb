import { Buffer } from 'node:buffer'
import dc from 'node:diagnostics_channel'
import { once } from 'node:events'
import { existsSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { getDefaultHighWaterMark, setDefaultHighWaterMark } from 'node:stream'
import tls from 'node:tls'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, SOCKET_HIGH_WATER_MARK } from '../src/constants.ts'
import { diagnosticsChannels } from '../src/diagnostics.ts'
import { ListenError, PROTO_ERRORS, ProxyHeaderError, TooManyConnectionsError } from '../src/errors.ts'
import type { ProtoError } from '../src/errors.ts'
import { LISTEN_OPTION_NAMES, Listener } from '../src/listener.ts'
import type { ListenerInit } from '../src/listener.ts'
import type { PeerInfo } from '../src/peer-info.ts'
import { encodeProxyHeader } from '../src/proxy-protocol.ts'
import { makeTestCertificate } from '../src/testing/certificate.ts'
import type { TestCertificate } from '../src/testing/certificate.ts'
import { tempSocketPath } from '../src/testing/socket-path.ts'
import { rejection } from './helpers.ts'

class KarpListenError extends ListenError {
  override name = 'KarpListenError'
  override readonly code = 'ERR_KARP_LISTEN'
}
class KarpProxyHeaderError extends ProxyHeaderError {
  override name = 'KarpProxyHeaderError'
  override readonly code = 'ERR_KARP_PROXY_HEADER'
}
class KarpTooManyConnectionsError extends TooManyConnectionsError {
  override name = 'KarpTooManyConnectionsError'
  override readonly code = 'ERR_KARP_TOO_MANY_CONNECTIONS'
}

let cert: TestCertificate
beforeAll(async () => {
  cert = await makeTestCertificate()
})

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Harness {
  listener: Listener
  /** Connections handed over, in order. */
  connections: { socket: net.Socket; remote: PeerInfo }[]
  clientErrors: { err: ProtoError; remote: PeerInfo }[]
  acceptErrors: ListenError[]
  /** Resolves with the next connection handed over. */
  nextConnection: () => Promise<{ socket: net.Socket; remote: PeerInfo }>
  nextClientError: () => Promise<{ err: ProtoError; remote: PeerInfo }>
}

/** A listener that echoes every connection it hands over, and records what it reports. */
function harness(init: Partial<ListenerInit> = {}): Harness {
  const connections: Harness['connections'] = []
  const clientErrors: Harness['clientErrors'] = []
  const acceptErrors: ListenError[] = []
  const waiting = { connection: [] as ((c: Harness['connections'][number]) => void)[], clientError: [] as ((e: Harness['clientErrors'][number]) => void)[] }
  const listener = new Listener({
    defaults: { port: 0 },
    ...init,
    onConnection(socket, remote) {
      socket.on('error', () => undefined)
      socket.pipe(socket)
      const entry = { socket, remote }
      connections.push(entry)
      cleanups.push(() => socket.destroy())
      waiting.connection.shift()?.(entry)
    },
    onClientError(err, remote) {
      const entry = { err, remote }
      clientErrors.push(entry)
      waiting.clientError.shift()?.(entry)
    },
    onAcceptError(err) {
      acceptErrors.push(err)
    },
  })
  cleanups.push(() => listener.close())
  const next = <T>(seen: T[], queue: ((value: T) => void)[], counted: () => number): Promise<T> => {
    const already = seen[counted()]
    if (already !== undefined) return Promise.resolve(already)
    return new Promise((resolve) => queue.push(resolve))
  }
  let connectionsTaken = 0
  let errorsTaken = 0
  return {
    listener,
    connections,
    clientErrors,
    acceptErrors,
    nextConnection: () => next(connections, waiting.connection, () => connectionsTaken++),
    nextClientError: () => next(clientErrors, waiting.clientError, () => errorsTaken++),
  }
}

function dial(options: net.NetConnectOpts): net.Socket {
  const socket = net.connect(options)
  socket.on('error', () => undefined)
  cleanups.push(() => socket.destroy())
  return socket
}

async function echoes(socket: net.Socket, text: string): Promise<string> {
  socket.write(text)
  const [chunk] = (await once(socket, 'data')) as [Buffer]
  return chunk.toString()
}

const closedBy = (socket: net.Socket): Promise<unknown> => new Promise((resolve) => (socket.closed ? resolve(true) : socket.on('close', resolve)))

describe('Listener', () => {
  it('listens on 127.0.0.1, hands over each connection with its PeerInfo, and reports its address', async () => {
    const { listener, nextConnection } = harness()
    expect(listener.address()).toBeNull()
    expect(listener.listening).toBe(false)
    const address = await listener.listen({ host: '127.0.0.1', port: 0 })
    expect(address).toEqual({ host: '127.0.0.1', port: expect.any(Number), family: 'IPv4' })
    expect(address.port).toBeGreaterThan(0)
    expect(listener.address()).toEqual(address)
    expect(listener.listening).toBe(true)
    const client = dial({ host: '127.0.0.1', port: address.port })
    await once(client, 'connect')
    const { socket, remote } = await nextConnection()
    expect(remote).toEqual({ address: '127.0.0.1', port: client.localPort })
    expect(socket.allowHalfOpen).toBe(true)
    // The same read-ahead on every Node version, however its default moves.
    expect(socket.readableHighWaterMark).toBe(SOCKET_HIGH_WATER_MARK)
    expect(listener.connections).toBe(1)
    expect(await echoes(client, 'ping')).toBe('ping')
    const closed = closedBy(socket)
    client.destroy()
    await closed
    expect(listener.connections).toBe(0)
  })

  it("reads ahead 16 KiB on every connection where Node's own default is larger", async () => {
    // Node 22 raised the default to 64 KiB: raising it here makes this test fail on Node 20 too.
    const before = getDefaultHighWaterMark(false)
    setDefaultHighWaterMark(false, 4 * SOCKET_HIGH_WATER_MARK)
    cleanups.push(() => setDefaultHighWaterMark(false, before))
    const { listener, nextConnection } = harness()
    const { port } = await listener.listen({ host: '127.0.0.1', port: 0 })
    dial({ host: '127.0.0.1', port })
    const { socket } = await nextConnection()
    expect(socket.readableHighWaterMark).toBe(SOCKET_HIGH_WATER_MARK)
  })

  it("binds the package's default host and port", async () => {
    const { listener } = harness({ defaults: { port: 0 } })
    expect(await listener.listen()).toMatchObject({ host: '127.0.0.1', family: 'IPv4' })
  })

  it('listens on the IPv6 loopback ::1', async () => {
    const { listener, nextConnection } = harness()
    const address = await listener.listen({ host: '::1', port: 0 })
    expect(address).toEqual({ host: '::1', port: expect.any(Number), family: 'IPv6' })
    const client = dial({ host: '::1', port: address.port })
    await once(client, 'connect')
    expect((await nextConnection()).remote).toEqual({ address: '::1', port: client.localPort })
    expect(await echoes(client, 'v6')).toBe('v6')
  })

  it('passes backlog and ipv6Only to the listening socket', async () => {
    const listen = vi.spyOn(net.Server.prototype, 'listen')
    const { listener } = harness()
    await listener.listen({ host: '::1', port: 0, ipv6Only: true, backlog: 7 })
    expect(listen).toHaveBeenCalledWith(expect.objectContaining({ host: '::1', port: 0, ipv6Only: true, backlog: 7 }), expect.any(Function))
    const other = harness()
    await other.listener.listen({ port: 0 })
    expect(listen).toHaveBeenLastCalledWith(expect.objectContaining({ ipv6Only: false, backlog: 511 }), expect.any(Function))
  })

  it('round-trips over a unix socket, whose file goes with close()', async () => {
    const { path, remove } = await tempSocketPath()
    cleanups.push(remove)
    const { listener, nextConnection } = harness()
    expect(await listener.listen({ path })).toEqual({ path })
    expect(listener.address()).toEqual({ path })
    const client = dial({ path })
    await once(client, 'connect')
    expect((await nextConnection()).remote).toEqual({ address: '', port: 0 })
    expect(await echoes(client, 'over a path')).toBe('over a path')
    await listener.close()
    expect(existsSync(path)).toBe(false)
    // The connection is the package's: it outlives the listening socket.
    expect(await echoes(client, 'still here')).toBe('still here')
  })

  it('removes no file it did not create: a stale socket file is a ListenError', async () => {
    const { path, remove } = await tempSocketPath()
    cleanups.push(remove)
    writeFileSync(path, 'left behind')
    const { listener } = harness({ errors: { ...PROTO_ERRORS, Listen: KarpListenError } })
    const err = await rejection(listener.listen({ path }))
    expect(err).toMatchObject({ name: 'KarpListenError', code: 'ERR_KARP_LISTEN', address: path, cause: expect.objectContaining({ code: 'EADDRINUSE' }) })
    expect(existsSync(path)).toBe(true)
    const missingDir = await rejection(harness().listener.listen({ path: '/nonexistent-dir/proto.sock' }))
    expect(missingDir).toMatchObject({ code: 'ERR_PROTO_LISTEN', address: '/nonexistent-dir/proto.sock', cause: expect.objectContaining({ code: 'EACCES' }) })
  })

  it("reports a busy port as the package's ListenError naming the address, and can listen again", async () => {
    const first = harness()
    const { port } = await first.listener.listen({ port: 0 })
    const { listener } = harness({ errors: { ...PROTO_ERRORS, Listen: KarpListenError } })
    const err = await rejection(listener.listen({ host: '127.0.0.1', port }))
    expect(err).toBeInstanceOf(KarpListenError)
    expect(err).toMatchObject({
      code: 'ERR_KARP_LISTEN',
      address: `127.0.0.1:${port}`,
      message: `cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}`,
      cause: expect.objectContaining({ code: 'EADDRINUSE' }),
    })
    expect(listener.listening).toBe(false)
    expect(listener.address()).toBeNull()
    expect(await listener.listen({ port: 0 })).toMatchObject({ family: 'IPv4' })
  })

  it('refuses a second listen() and a listen() after close() with a ListenError', async () => {
    const { listener } = harness()
    const { port } = await listener.listen()
    expect(await rejection(listener.listen({ port: 0 }))).toMatchObject({
      code: 'ERR_PROTO_LISTEN',
      cause: expect.objectContaining({ code: 'ERR_PROTO_USAGE', message: `it already listens on 127.0.0.1:${port}` }),
    })
    await listener.close()
    expect(await rejection(listener.listen())).toMatchObject({ code: 'ERR_PROTO_LISTEN', cause: expect.objectContaining({ message: 'the server is closed' }) })
  })

  it('stops accepting on close() and frees the port at once, idempotently', async () => {
    const { listener } = harness()
    const { port } = await listener.listen()
    const closing = listener.close()
    expect(listener.close()).toBe(closing)
    await closing
    expect(listener.listening).toBe(false)
    expect(listener.address()).toBeNull()
    const client = dial({ host: '127.0.0.1', port })
    expect(await once(client, 'error').catch((err: unknown) => [err])).toEqual([expect.objectContaining({ code: 'ECONNREFUSED' })])
    const again = harness()
    expect(await again.listener.listen({ port })).toMatchObject({ port })
  })

  it('refuses a connection past maxConnections before handing anything over, and reports it with its PeerInfo', async () => {
    const { listener, connections, nextConnection, nextClientError } = harness({
      maxConnections: 1,
      errors: { ...PROTO_ERRORS, TooManyConnections: KarpTooManyConnectionsError },
    })
    const { port } = await listener.listen()
    const first = dial({ host: '127.0.0.1', port })
    await nextConnection()
    const second = dial({ host: '127.0.0.1', port })
    await once(second, 'connect')
    const refused = await nextClientError()
    expect(refused.err).toMatchObject({ name: 'KarpTooManyConnectionsError', code: 'ERR_KARP_TOO_MANY_CONNECTIONS', limit: 1 })
    expect(refused.remote).toEqual({ address: '127.0.0.1', port: second.localPort })
    await closedBy(second)
    expect(connections).toHaveLength(1)
    expect(listener.connections).toBe(1)
    const gone = closedBy(connections[0]?.socket ?? expect.unreachable())
    first.destroy()
    await gone
    expect(listener.connections).toBe(0)
    const third = dial({ host: '127.0.0.1', port })
    await once(third, 'connect')
    expect((await nextConnection()).remote.port).toBe(third.localPort)
  })

  it('reports an accept failure while listening through onAcceptError, and keeps listening', async () => {
    const created = vi.spyOn(net, 'createServer')
    const { listener, acceptErrors, nextConnection } = harness({ errors: { ...PROTO_ERRORS, Listen: KarpListenError } })
    const { port } = await listener.listen()
    const server = created.mock.results[0]?.value as net.Server
    // What Node emits when accept(2) fails, as with EMFILE.
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' })
    server.emit('error', emfile)
    expect(acceptErrors).toHaveLength(1)
    expect(acceptErrors[0]).toMatchObject({
      name: 'KarpListenError',
      code: 'ERR_KARP_LISTEN',
      address: `127.0.0.1:${port}`,
      message: `cannot listen on 127.0.0.1:${port}: accept EMFILE`,
      cause: emfile,
    })
    expect(listener.listening).toBe(true)
    const client = dial({ host: '127.0.0.1', port })
    await nextConnection()
    expect(await echoes(client, 'after EMFILE')).toBe('after EMFILE')
  })

  it('refuses a misspelt or conflicting option with ERR_PROTO_USAGE', async () => {
    const { listener } = harness()
    expect(await rejection(listener.listen({ prot: 0 } as never))).toMatchObject({
      code: 'ERR_PROTO_USAGE',
      message: "unknown option 'prot' for listen() (did you mean 'port'?)",
    })
    expect(await rejection(listener.listen({ host: '127.0.0.1', path: '/x.sock' }))).toMatchObject({ message: 'listen on host/port or on a path, not both' })
    expect(await rejection(listener.listen({ port: 65_536 }))).toMatchObject({ message: 'port must be an integer from 0 to 65535, got 65536' })
    expect(await rejection(listener.listen({ backlog: 0 }))).toMatchObject({ code: 'ERR_PROTO_USAGE' })
    expect(await rejection(listener.listen({ tls: 'yes' as never }))).toMatchObject({ message: 'tls must be an object of node:tls server options' })
    expect(listener.listening).toBe(false)
    expect(Object.keys(LISTEN_OPTION_NAMES).sort()).toEqual(['backlog', 'host', 'ipv6Only', 'path', 'port', 'proxyProtocol', 'signal', 'tls'])
  })

  it('refuses bad limits', () => {
    const base = { defaults: { port: 0 }, onConnection() {}, onClientError() {}, onAcceptError() {} }
    expect(() => new Listener({ ...base, maxConnections: 0 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => new Listener({ ...base, handshakeTimeout: 2 ** 31 })).toThrow('handshakeTimeout must be at most 2147483647 ms, got 2147483648')
    expect(DEFAULT_MAX_CONNECTIONS).toBe(1024)
    expect(DEFAULT_HANDSHAKE_TIMEOUT).toBe(10_000)
  })

  it('rejects with signal.reason and stays closed when the signal aborts before or during listen()', async () => {
    const before = harness()
    const reason = new Error('not now')
    expect(await rejection(before.listener.listen({ signal: AbortSignal.abort(reason) }))).toBe(reason)
    const during = harness()
    const controller = new AbortController()
    const listening = during.listener.listen({ port: 0, signal: controller.signal })
    controller.abort(reason)
    expect(await rejection(listening)).toBe(reason)
    expect(during.listener.listening).toBe(false)
    expect(await rejection(during.listener.listen())).toMatchObject({ cause: expect.objectContaining({ message: 'the server is closed' }) })
  })

  it('ends a listen() under way when close() comes first', async () => {
    const { listener } = harness()
    const listening = listener.listen()
    await listener.close()
    expect(await rejection(listening)).toMatchObject({
      code: 'ERR_PROTO_LISTEN',
      cause: expect.objectContaining({ message: 'the server was closed before it listened' }),
    })
  })

  it('publishes server:listening with the server and its address, and builds nothing without subscribers', async () => {
    const channels = diagnosticsChannels('listener-test')
    const server = { name: 'the package server' }
    const publish = vi.spyOn(channels.serverListening, 'publish')
    const quiet = harness({ diagnostics: { channels, server } })
    await quiet.listener.listen()
    expect(publish).not.toHaveBeenCalled()
    // A spy on an idle channel would hide the publish of the active one it becomes.
    publish.mockRestore()
    const messages: unknown[] = []
    const subscriber = (message: unknown): void => {
      messages.push(message)
    }
    dc.subscribe('proto:listener-test:server:listening', subscriber)
    cleanups.push(() => dc.unsubscribe('proto:listener-test:server:listening', subscriber))
    const heard = harness({ diagnostics: { channels, server } })
    const address = await heard.listener.listen()
    expect(messages).toEqual([{ side: 'server', server, address }])
    expect((messages[0] as { server: unknown }).server).toBe(server)
  })
})

describe('Listener with TLS', () => {
  const secure = (): tls.TlsOptions => ({ key: cert.key, cert: cert.cert })

  async function tlsClient(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
    const client = tls.connect({ host: '127.0.0.1', port, ca: cert.ca, ...options })
    client.on('error', () => undefined)
    cleanups.push(() => client.destroy())
    await once(client, 'secureConnect')
    return client
  }

  it('hands over a connection only after its handshake, with the PeerInfo of the TCP peer', async () => {
    const { listener, nextConnection } = harness()
    const { port } = await listener.listen({ tls: secure() })
    const client = await tlsClient(port)
    expect(client.authorized).toBe(true)
    const { socket, remote } = await nextConnection()
    expect(socket).toBeInstanceOf(tls.TLSSocket)
    expect((socket as tls.TLSSocket).encrypted).toBe(true)
    expect(socket.allowHalfOpen).toBe(true)
    expect(remote).toEqual({ address: '127.0.0.1', port: client.localPort })
    expect(await echoes(client, 'over tls')).toBe('over tls')
    expect(listener.connections).toBe(1)
    const gone = closedBy(socket)
    client.destroy()
    await gone
    expect(listener.connections).toBe(0)
  })

  it('round-trips TLS over a unix socket', async () => {
    const { path, remove } = await tempSocketPath()
    cleanups.push(remove)
    const { listener, nextConnection } = harness()
    await listener.listen({ path, tls: secure() })
    const client = tls.connect({ path, ca: cert.ca, servername: 'localhost' })
    client.on('error', () => undefined)
    cleanups.push(() => client.destroy())
    await once(client, 'secureConnect')
    expect((await nextConnection()).remote).toEqual({ address: '', port: 0 })
    expect(await echoes(client, 'tls over a path')).toBe('tls over a path')
  })

  it('enforces client certificates when asked, as node:tls does', async () => {
    const { listener, nextConnection, nextClientError } = harness()
    const { port } = await listener.listen({ tls: { ...secure(), requestCert: true, ca: cert.ca } })
    const client = await tlsClient(port, { key: cert.key, cert: cert.cert })
    const { socket } = await nextConnection()
    expect((socket as tls.TLSSocket).authorized).toBe(true)
    expect(await echoes(client, 'mutual')).toBe('mutual')
    const anonymous = tls.connect({ host: '127.0.0.1', port, ca: cert.ca })
    anonymous.on('error', () => undefined)
    cleanups.push(() => anonymous.destroy())
    const refused = await nextClientError()
    expect(refused.err).toMatchObject({ code: 'ERR_PROTO_TLS_HANDSHAKE' })
    expect(refused.remote.address).toBe('127.0.0.1')
  })

  it('reports a failed handshake as TlsHandshakeError with the reason and the PeerInfo, and destroys the connection', async () => {
    const { listener, connections, nextClientError } = harness()
    const { port } = await listener.listen({ tls: secure() })
    const client = dial({ host: '127.0.0.1', port })
    await once(client, 'connect')
    const localPort = client.localPort
    client.write('GET / HTTP/1.1\r\n\r\n')
    const { err, remote } = await nextClientError()
    expect(err).toMatchObject({ name: 'TlsHandshakeError', code: 'ERR_PROTO_TLS_HANDSHAKE', cause: expect.objectContaining({ code: 'ERR_SSL_HTTP_REQUEST' }) })
    expect(err.message).toMatch(/^TLS handshake failed: /)
    expect(remote).toEqual({ address: '127.0.0.1', port: localPort })
    await closedBy(client)
    expect(connections).toHaveLength(0)
    expect(listener.connections).toBe(0)
  })

  it('reports a handshake not done within handshakeTimeout, from a peer that never sends one', async () => {
    const { listener, nextClientError } = harness({ handshakeTimeout: 20 })
    const { port } = await listener.listen({ tls: secure() })
    const client = dial({ host: '127.0.0.1', port })
    await once(client, 'connect')
    const localPort = client.localPort
    const { err, remote } = await nextClientError()
    expect(err).toMatchObject({ code: 'ERR_PROTO_TLS_HANDSHAKE', message: 'TLS handshake not done within 20 ms' })
    expect(remote).toEqual({ address: '127.0.0.1', port: localPort })
    await closedBy(client)
    expect(listener.connections).toBe(0)
  })

  it('reports a peer that leaves in the middle of its handshake, with its PeerInfo', async () => {
    const { listener, nextClientError } = harness()
    const { port } = await listener.listen({ tls: secure() })
    const client = dial({ host: '127.0.0.1', port })
    await once(client, 'connect')
    const localPort = client.localPort
    client.destroy()
    const { err, remote } = await nextClientError()
    expect(err).toMatchObject({ code: 'ERR_PROTO_TLS_HANDSHAKE' })
    expect(remote).toEqual({ address: '127.0.0.1', port: localPort })
    expect(listener.connections).toBe(0)
  })

  it('refuses a TLS connection past maxConnections before its handshake', async () => {
    const { listener, nextConnection, nextClientError } = harness({ maxConnections: 1 })
    const { port } = await listener.listen({ tls: secure() })
    await tlsClient(port)
    await nextConnection()
    const second = tls.connect({ host: '127.0.0.1', port, ca: cert.ca })
    let secured = false
    second.on('secureConnect', () => (secured = true))
    second.on('error', () => undefined)
    const { err } = await nextClientError()
    expect(err).toMatchObject({ code: 'ERR_PROTO_TOO_MANY_CONNECTIONS' })
    await closedBy(second)
    expect(secured).toBe(false)
  })

  it('destroys the connections still in their handshake on close()', async () => {
    const created = vi.spyOn(net, 'createServer')
    const { listener, clientErrors } = harness()
    const { port } = await listener.listen({ tls: secure() })
    const accepted = once(created.mock.results[0]?.value as net.Server, 'connection')
    const client = dial({ host: '127.0.0.1', port })
    await accepted
    expect(listener.connections).toBe(1)
    await listener.close()
    await closedBy(client)
    expect(clientErrors).toEqual([])
  })

  it('reports bad TLS options as a ListenError', async () => {
    const { listener } = harness()
    expect(await rejection(listener.listen({ tls: { key: 'not a key', cert: 'not a certificate' } }))).toMatchObject({
      code: 'ERR_PROTO_LISTEN',
      cause: expect.any(Error),
    })
    expect(listener.listening).toBe(false)
  })
})

describe('Listener behind a PROXY protocol balancer', () => {
  const client = { address: '203.0.113.7', port: 40_001 }
  const header = (version: 1 | 2, port: number): Buffer =>
    encodeProxyHeader({ version, command: 'proxy', transport: 'tcp', source: client, destination: { address: '127.0.0.1', port } })

  it('reads the header first and hands the connection over with the client it names, the bytes after it intact', async () => {
    const { listener, nextConnection } = harness()
    const { port } = await listener.listen({ proxyProtocol: 'v1' })
    const balancer = dial({ host: '127.0.0.1', port })
    await once(balancer, 'connect')
    // The first request rides in the same segment as the header.
    balancer.write(Buffer.concat([header(1, port), Buffer.from('first')]))
    const { remote } = await nextConnection()
    expect(remote).toEqual(client)
    const [echoed] = (await once(balancer, 'data')) as [Buffer]
    expect(echoed.toString()).toBe('first')
    expect(await echoes(balancer, 'second')).toBe('second')
  })

  it('reads the header from the raw socket before the TLS handshake', async () => {
    const { listener, nextConnection } = harness()
    const { port } = await listener.listen({ proxyProtocol: { mode: 'v2' }, tls: { key: cert.key, cert: cert.cert } })
    const raw = dial({ host: '127.0.0.1', port })
    await once(raw, 'connect')
    raw.write(header(2, port))
    const secure = tls.connect({ socket: raw, ca: cert.ca, servername: 'localhost' })
    secure.on('error', () => undefined)
    await once(secure, 'secureConnect')
    const { socket, remote } = await nextConnection()
    expect(socket).toBeInstanceOf(tls.TLSSocket)
    expect(remote).toEqual(client)
    expect(await echoes(secure, 'tls behind a balancer')).toBe('tls behind a balancer')
  })

  it("reports a bad header as the package's ProxyHeaderError with the balancer's PeerInfo, and destroys the connection", async () => {
    const { listener, connections, nextClientError } = harness({ errors: { ...PROTO_ERRORS, ProxyHeader: KarpProxyHeaderError } })
    const { port } = await listener.listen({ proxyProtocol: 'any' })
    const balancer = dial({ host: '127.0.0.1', port })
    await once(balancer, 'connect')
    const localPort = balancer.localPort
    balancer.write('GET / HTTP/1.1\r\n\r\n')
    const { err, remote } = await nextClientError()
    expect(err).toMatchObject({ name: 'KarpProxyHeaderError', code: 'ERR_KARP_PROXY_HEADER', reason: 'invalid', cause: expect.objectContaining({ code: 'ERR_PROTO_PROXY_HEADER' }) })
    expect(remote).toEqual({ address: '127.0.0.1', port: localPort })
    await closedBy(balancer)
    expect(connections).toHaveLength(0)
    expect(listener.connections).toBe(0)
  })

  it('gives up on a header not there within its timeout, 10 s by default', async () => {
    const created = vi.spyOn(net, 'createServer')
    const { listener, nextClientError } = harness()
    const { port } = await listener.listen({ proxyProtocol: 'v2' })
    const accepted = once(created.mock.results[0]?.value as net.Server, 'connection')
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    cleanups.push(() => vi.useRealTimers())
    const balancer = dial({ host: '127.0.0.1', port })
    await accepted
    const reported = nextClientError()
    await vi.advanceTimersByTimeAsync(9_999)
    expect(listener.connections).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    const { err } = await reported
    expect(err).toMatchObject({ code: 'ERR_PROTO_PROXY_HEADER', reason: 'timeout' })
    vi.useRealTimers()
    await closedBy(balancer)
  })

  it('destroys a connection still sending its header on close(), without a report', async () => {
    const created = vi.spyOn(net, 'createServer')
    const { listener, clientErrors } = harness()
    const { port } = await listener.listen({ proxyProtocol: 'v1' })
    const accepted = once(created.mock.results[0]?.value as net.Server, 'connection')
    const balancer = dial({ host: '127.0.0.1', port })
    await accepted
    balancer.write('PROXY TCP4 ')
    await listener.close()
    await closedBy(balancer)
    expect(clientErrors).toEqual([])
  })

  it('checks proxyProtocol when listen() is called', async () => {
    const { listener } = harness()
    expect(await rejection(listener.listen({ proxyProtocol: 'v3' as never }))).toMatchObject({ code: 'ERR_PROTO_USAGE', message: "mode must be 'v1', 'v2' or 'any', got v3" })
    expect(await rejection(listener.listen({ proxyProtocol: { maxbytes: 100 } as never }))).toMatchObject({
      message: "unknown option 'proxyProtocol.maxbytes' for listen() (did you mean 'proxyProtocol.maxBytes'?)",
    })
    expect(await rejection(listener.listen({ proxyProtocol: { timeout: 0 } }))).toMatchObject({ code: 'ERR_PROTO_USAGE' })
    expect(await rejection(listener.listen({ path: '/x.sock', proxyProtocol: 'v2', tls: { key: cert.key, cert: cert.cert } }))).toMatchObject({
      message: 'proxyProtocol with tls needs TCP: the handshakes on a unix socket cannot be matched to their headers',
    })
    expect(listener.listening).toBe(false)
  })
})
