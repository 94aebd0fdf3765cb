import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import net from 'node:net'
import tls from 'node:tls'
import { encodeProxyHeader } from '@proto/framing'
import { makeTestCertificate, tempSocketPath } from '@proto/framing/testing'
import type { TestCertificate } from '@proto/framing/testing'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { decodeFrame, encodeRequest } from '../src/codec.ts'
import { DEFAULT_KEEP_ALIVE } from '../src/constants.ts'
import { createServer } from '../src/server.ts'
import type { KarpClientError, KarpConnection, KarpServer, KarpServerOptions } from '../src/types.ts'
import type { PeerInfo } from '@proto/framing'
import { RawClient, deferred } from './helpers.ts'

let cert: TestCertificate
beforeAll(async () => {
  cert = await makeTestCertificate()
})

const servers: KarpServer[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(servers.splice(0).map((server) => server.close({ signal: AbortSignal.abort() })))
})

function serve(options: KarpServerOptions = {}): KarpServer {
  const server = createServer({ handlers: { echo: (request) => request.data }, ...options })
  servers.push(server)
  return server
}

/** Every clientError of `server`, with the peer it names. */
function clientErrors(server: KarpServer): { all: [KarpClientError, KarpConnection | PeerInfo][]; next(): Promise<[KarpClientError, KarpConnection | PeerInfo]> } {
  const all: [KarpClientError, KarpConnection | PeerInfo][] = []
  const waiting: ((entry: [KarpClientError, KarpConnection | PeerInfo]) => void)[] = []
  server.on('clientError', (err, peer) => {
    all.push([err, peer])
    waiting.shift()?.([err, peer])
  })
  return {
    all,
    next: () => new Promise((resolve) => waiting.push(resolve)),
  }
}

describe('listen', () => {
  it('resolves with the address, which address() and listening report until close', async () => {
    const server = serve()
    expect(server.address()).toBeNull()
    expect(server.listening).toBe(false)
    const address = await server.listen({ port: 0 })
    expect(address).toEqual({ host: '127.0.0.1', port: expect.any(Number), family: 'IPv4' })
    expect(server.address()).toEqual(address)
    expect(server.listening).toBe(true)
    await server.close()
    expect(server.address()).toBeNull()
    expect(server.listening).toBe(false)
  })

  it('gives ERR_KARP_LISTEN with the cause and the address for a busy port, a bad port and a second listen', async () => {
    const first = serve()
    const { port } = await first.listen({ port: 0 })
    const err = await serve()
      .listen({ port })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'KarpListenError', code: 'ERR_KARP_LISTEN', cause: { code: 'EADDRINUSE' }, address: `127.0.0.1:${port}` })
    expect((err as Error).message).toContain(`127.0.0.1:${port}`)
    await expect(serve().listen({ port: 70_000 })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(first.listen({ port: 0 })).rejects.toMatchObject({ code: 'ERR_KARP_LISTEN' })
  })

  it('rejects with the reason of a listen signal aborted first, and listens on nothing', async () => {
    const reason = new Error('never')
    const server = serve()
    await expect(server.listen({ port: 0, signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    expect(server.listening).toBe(false)
  })

  it('refuses an unknown listen option, naming the closest one', async () => {
    await expect(serve().listen({ prot: 0 } as never)).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE', message: expect.stringContaining("did you mean 'port'") })
  })

  it('serves a unix socket', async () => {
    const { path, remove } = await tempSocketPath()
    try {
      const server = serve()
      expect(await server.listen({ path })).toEqual({ path })
      const client = await connect({ path })
      expect(client.remote).toEqual({ address: '', port: 0 })
      expect((await client.request('echo', 'over a unix socket')).text()).toBe('over a unix socket')
      await client.close()
    } finally {
      await remove()
    }
  })

  it('serves IPv6', async () => {
    const server = serve()
    const address = await server.listen({ host: '::1', port: 0 })
    expect(address).toMatchObject({ host: '::1', family: 'IPv6' })
    const client = await connect({ host: '::1', port: address.port })
    expect(client.remote).toEqual({ address: '::1', port: address.port })
    expect((await client.request('echo', 'v6')).text()).toBe('v6')
    await client.close()
  })

  it('serves TLS, with a certificate made at test time', async () => {
    const server = serve()
    const { port } = await server.listen({ port: 0, tls: { key: cert.key, cert: cert.cert } })
    const client = await connect({ port, tls: { ca: cert.ca } })
    expect((await client.request('echo', 'over TLS')).text()).toBe('over TLS')
    await client.close()
  })

  it('reports a failed TLS handshake as ERR_KARP_TLS_HANDSHAKE with the PeerInfo, and a client that does not trust the server as ERR_KARP_CONNECT', async () => {
    const server = serve()
    const errors = clientErrors(server)
    const { port } = await server.listen({ port: 0, tls: { key: cert.key, cert: cert.cert } })
    const reported = errors.next()
    await expect(connect({ port, tls: true })).rejects.toMatchObject({ code: 'ERR_KARP_CONNECT', cause: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' } })
    const [err, peer] = await reported
    expect(err).toMatchObject({ name: 'KarpTlsHandshakeError', code: 'ERR_KARP_TLS_HANDSHAKE' })
    expect(peer).toEqual({ address: '127.0.0.1', port: expect.any(Number) })
  })

  it('with proxyProtocol, reports the client the PROXY header names as the remote of everything', async () => {
    const server = serve()
    const errors = clientErrors(server)
    const { port } = await server.listen({ port: 0, proxyProtocol: 'v2' })
    const opened = once(server, 'connection') as Promise<[KarpConnection]>
    const socket = net.connect({ host: '127.0.0.1', port })
    await once(socket, 'connect')
    const header = encodeProxyHeader({
      version: 2,
      command: 'proxy',
      transport: 'tcp',
      source: { address: '203.0.113.7', port: 40_000 },
      destination: { address: '127.0.0.1', port },
    })
    const raw = new RawClient(socket)
    await raw.write(Buffer.concat([header, encodeRequest({ route: 'echo', id: '0000000000000001', data: 'behind a balancer', wantsReply: true })]))
    expect(decodeFrame(await raw.line())).toMatchObject({ type: 'response', id: '0000000000000001', success: true })
    const [connection] = await opened
    expect(connection.remote).toEqual({ address: '203.0.113.7', port: 40_000 })
    // A connection is the PeerInfo of its peer too, as in every package.
    expect([connection.address, connection.port]).toEqual(['203.0.113.7', 40_000])
    raw.destroy()
    const bad = await RawClient.connect(port)
    await bad.write('KARP_HEADecho01\n')
    const [err, peer] = await errors.next()
    expect(err).toMatchObject({ name: 'KarpProxyHeaderError', code: 'ERR_KARP_PROXY_HEADER', reason: 'invalid' })
    expect(peer).toEqual({ address: '127.0.0.1', port: expect.any(Number) })
    await bad.ended
  })

  it("escapes the control characters of the peer's bytes a PROXY header error quotes", async () => {
    const server = serve()
    const errors = clientErrors(server)
    const { port } = await server.listen({ port: 0, proxyProtocol: 'v1' })
    const bad = await RawClient.connect(port)
    // ESC and C1's CSI, either of which would start a terminal escape sequence in a log.
    await bad.write(Buffer.from('PROXY TC\x1b[2JP\x9b2J 192.0.2.1 127.0.0.1 1 2\r\n', 'latin1'))
    const [err] = await errors.next()
    expect(err).toMatchObject({ code: 'ERR_KARP_PROXY_HEADER', reason: 'invalid', message: expect.stringContaining('TC') })
    expect(err.message).not.toMatch(/[\x00-\x1f\x7f-\x9f]/)
    await bad.ended
  })

  it('puts the PROXY header before the TLS handshake, with v1 too', async () => {
    const server = serve()
    const { port } = await server.listen({ port: 0, proxyProtocol: 'any', tls: { key: cert.key, cert: cert.cert } })
    const opened = once(server, 'connection') as Promise<[KarpConnection]>
    const socket = net.connect({ host: '127.0.0.1', port })
    await once(socket, 'connect')
    socket.write(encodeProxyHeader({ version: 1, command: 'proxy', transport: 'tcp', source: { address: '198.51.100.1', port: 5555 }, destination: { address: '127.0.0.1', port } }))
    const secure = tls.connect({ socket, ca: cert.ca, servername: 'localhost' })
    await once(secure, 'secureConnect')
    const client = await connect({ socket: secure })
    expect((await client.request('echo', 'both')).text()).toBe('both')
    expect((await opened)[0].remote).toEqual({ address: '198.51.100.1', port: 5555 })
    await client.close()
  })
})

describe('admission and close', () => {
  it('refuses a connection past maxConnections before building it, reports the PeerInfo, and keeps the others', async () => {
    const server = serve({ limits: { maxConnections: 2 } })
    const errors = clientErrors(server)
    const { port } = await server.listen({ port: 0 })
    const connections: KarpConnection[] = []
    server.on('connection', (connection) => connections.push(connection))
    const first = await connect({ port })
    const second = await connect({ port })
    expect((await first.request('echo', '1')).text()).toBe('1')
    expect((await second.request('echo', '2')).text()).toBe('2')
    const refused = errors.next()
    const third = await RawClient.connect(port)
    const [err, peer] = await refused
    expect(err).toMatchObject({ name: 'KarpTooManyConnectionsError', code: 'ERR_KARP_TOO_MANY_CONNECTIONS', limit: 2 })
    expect(peer).toEqual({ address: '127.0.0.1', port: third.socket.localPort })
    await third.ended
    expect(server.connections.size).toBe(2)
    expect(connections).toHaveLength(2)
    expect((await first.request('echo', 'still')).text()).toBe('still')
    await Promise.all([first.close(), second.close()])
  })

  it('close() stops accepting, closes every connection after its work and emits close once', async () => {
    const release = deferred<string>()
    const started = deferred()
    const server = serve({
      handlers: {
        slow: () => {
          started.resolve()
          return release.promise
        },
      },
    })
    const { port } = await server.listen({ port: 0 })
    const client = await connect({ port })
    const slow = client.request('slow')
    await started.promise
    const closeEvent = vi.fn()
    server.on('close', closeEvent)
    const closing = server.close()
    await expect(connect({ port })).rejects.toMatchObject({ code: 'ERR_KARP_CONNECT' })
    release.resolve('done')
    expect((await slow).text()).toBe('done')
    await closing
    await client.closed
    expect(closeEvent).toHaveBeenCalledTimes(1)
    expect(server.connections.size).toBe(0)
    await server[Symbol.asyncDispose]()
    expect(closeEvent).toHaveBeenCalledTimes(1)
  })

  it('turns keep-alive on with the default delay, a given one, or not at all', async () => {
    const spy = vi.spyOn(net.Socket.prototype, 'setKeepAlive')
    const server = serve({ keepAlive: false })
    const { port } = await server.listen({ port: 0 })
    const accepted = deferred()
    server.on('connection', () => {
      if (server.connections.size === 2) accepted.resolve()
    })
    const a = await connect({ port })
    const b = await connect({ port, keepAlive: 1234 })
    await accepted.promise
    expect(spy.mock.calls).toEqual([
      [true, DEFAULT_KEEP_ALIVE],
      [true, 1234],
    ])
    expect(a.remote).toEqual({ address: '127.0.0.1', port })
    for (const connection of server.connections) expect(connection.remote.address).toBe('127.0.0.1')
    await Promise.all([a.close(), b.close()])
  })

  it('refuses bad and misspelt options with ERR_PROTO_USAGE', () => {
    for (const options of [
      { limits: { maxFrameBytes: 10 } },
      { limits: { maxInFlight: 0 } },
      { timeout: 1.5 },
      { keepAlive: -1 },
      { limits: { maxWriteBufferBytes: Number.POSITIVE_INFINITY } },
      { limits: { maxConnections: 0 } },
      { limits: { handshakeTimeout: 2 ** 31 } },
      { handlers: 'echo' },
    ]) {
      expect(() => createServer(options as KarpServerOptions)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    }
    expect(() => createServer({ routes: {} } as KarpServerOptions)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE', message: expect.stringContaining("unknown option 'routes'") }))
    expect(() => createServer({ maxFrameBytes: 100 } as KarpServerOptions)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => createServer({ limits: { maxFrameByte: 100 } } as KarpServerOptions)).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_USAGE', message: expect.stringContaining("did you mean 'limits.maxFrameBytes'") }),
    )
  })
})
