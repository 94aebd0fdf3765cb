// Connect and listen on framing's core: unix sockets, TLS, a given stream, connect deadlines,
// admission limits, the PROXY protocol header and the server's address and disposal.
import { once } from 'node:events'
import net from 'node:net'
import { encodeProxyHeader } from '@proto/framing'
import type { PeerInfo } from '@proto/framing'
import { duplexPair, makeTestCertificate, silentServer, tempSocketPath } from '@proto/framing/testing'
import type { TestCertificate } from '@proto/framing/testing'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { DEFAULT_CONNECT_TIMEOUT } from '../src/constants.ts'
import { demoHandler } from '../src/demo.ts'
import { ErrorCode } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { OnelineServer } from '../src/server.ts'
import type { OnelineConnection } from '../src/types.ts'
import { RawClient, Resources, wire } from './helpers.ts'

const res = new Resources()
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()))
  await res.close()
})

/** A server that `afterEach` closes. */
function serverOf(server: OnelineServer): OnelineServer {
  cleanups.push(() => server.close({ signal: AbortSignal.abort() }))
  return server
}

let certificate: TestCertificate
beforeAll(async () => {
  certificate = await makeTestCertificate()
})

describe('listen and connect', () => {
  it('serves a unix socket and reports its path as the address', async () => {
    const { path, remove } = await tempSocketPath()
    cleanups.push(remove)
    const server = serverOf(createServer({ handler: demoHandler }))
    expect(server.address()).toBeNull()
    expect(server.listening).toBe(false)
    expect(await server.listen({ path })).toEqual({ path })
    expect(server.address()).toEqual({ path })
    expect(server.listening).toBe(true)
    const remotes: PeerInfo[] = []
    server.on('connection', (connection) => remotes.push(connection.remote))
    const client = await connect({ path })
    expect(client.remote).toEqual({ address: '', port: 0 })
    expect(await client.request('echo over a unix socket')).toEqual(['over a unix socket'])
    await client.close()
    expect(remotes).toEqual([{ address: '', port: 0 }])
  })

  it('serves TLS with a certificate made at test time, and the client checks it', async () => {
    const server = serverOf(createServer({ handler: demoHandler }))
    const { port } = await server.listen({ host: '127.0.0.1', port: 0, tls: { key: certificate.key, cert: certificate.cert } })
    const client = await connect({ host: '127.0.0.1', port, tls: { ca: certificate.ca } })
    expect(await client.request('echo private')).toEqual(['private'])
    await client.close()
    // Without the certificate's authority, the client refuses the server.
    await expect(connect({ host: '127.0.0.1', port, tls: true })).rejects.toMatchObject({
      code: ErrorCode.CONNECT,
      cause: expect.objectContaining({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
    })
  })

  it('reports a client that fails its TLS handshake as ERR_ONELINE_TLS_HANDSHAKE and serves the next', async () => {
    const server = serverOf(createServer({ handler: demoHandler }))
    const { port } = await server.listen({ host: '127.0.0.1', port: 0, tls: { key: certificate.key, cert: certificate.cert } })
    const reported = once(server, 'clientError')
    const plain = await res.socket(port)
    plain.write(wire('ping_request'))
    const [err, peer] = (await reported) as [Error, PeerInfo]
    expect(err).toMatchObject({ code: ErrorCode.TLS_HANDSHAKE, name: 'OnelineTlsHandshakeError' })
    expect(peer).toEqual({ address: '127.0.0.1', port: plain.socket.localPort })
    const client = await connect({ host: '127.0.0.1', port, tls: { ca: certificate.ca } })
    await client.close()
  })

  it('runs over a stream it is given, TLS or not', async () => {
    const [ours, theirs] = duplexPair()
    const peer = new RawClient(theirs as net.Socket)
    const connecting = connect({ socket: ours })
    expect(await peer.bytes(5)).toEqual(wire('origclient_connect_handshake_request'))
    peer.write(wire('ping_response'))
    const client = await connecting
    expect(client.remote).toEqual({ address: '', port: 0 })
    const reply = client.request('cmd01')
    expect(await peer.bytes(6)).toEqual(wire('origclient_send_cmd01_request'))
    peer.write(wire('origclient_send_cmd01_response'))
    expect(await reply).toEqual(['ack'])
    const disposed = client[Symbol.asyncDispose]()
    expect(await peer.bytes(11)).toEqual(wire('disconnect_request'))
    theirs.end()
    await disposed
    await client.closed
  })

  it('refuses host and path together, before connecting', async () => {
    await expect(connect({ host: '127.0.0.1', path: '/nowhere' })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('fails with ERR_ONELINE_CONNECT naming a unix socket that is not there', async () => {
    const { path, remove } = await tempSocketPath()
    cleanups.push(remove)
    await expect(connect({ path })).rejects.toMatchObject({ code: ErrorCode.CONNECT, message: expect.stringContaining(path) })
  })

  it('gives up a connect after connectTimeout, on a peer that never completes its TLS handshake', async () => {
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const connecting = connect({ host: '127.0.0.1', port: silent.port, tls: { ca: certificate.ca }, connectTimeout: 50 }).catch((err: unknown) => err)
    await silent.accepted()
    await vi.advanceTimersByTimeAsync(50)
    expect(await connecting).toMatchObject({
      name: 'TimeoutError',
      code: ErrorCode.TIMEOUT,
      message: `connect to 127.0.0.1:${silent.port} timed out after 50 ms`,
    })
  })

  it(`waits ${DEFAULT_CONNECT_TIMEOUT} ms for a connection by default, and not a millisecond less`, async () => {
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    let settled = false
    const connecting = connect({ port: silent.port, tls: { ca: certificate.ca } }).catch((err: unknown) => err)
    void connecting.then(() => (settled = true))
    await silent.accepted()
    await vi.advanceTimersByTimeAsync(DEFAULT_CONNECT_TIMEOUT - 1)
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await connecting).toMatchObject({ code: ErrorCode.TIMEOUT, timeout: DEFAULT_CONNECT_TIMEOUT })
  })

  it('says when it waited for pong in vain: a server busy with another client', async () => {
    const { port } = await res.server({ handler: demoHandler })
    const first = await connect({ port })
    await expect(connect({ port, timeout: 100 })).rejects.toMatchObject({
      code: ErrorCode.TIMEOUT,
      message: `waiting for pong from 127.0.0.1:${port} timed out after 100 ms`,
    })
    await first.close()
  })
})

describe('the server as a resource', () => {
  it('listens on 127.0.0.1 by default, resolves with its address, and closes on Symbol.asyncDispose', async () => {
    const server = serverOf(createServer())
    const address = await server.listen({ port: 0 })
    expect(address).toEqual({ host: '127.0.0.1', port: expect.any(Number), family: 'IPv4' })
    expect(server.address()).toEqual(address)
    const closed = once(server, 'close')
    await server[Symbol.asyncDispose]()
    await closed
    expect(server.listening).toBe(false)
    expect(server.address()).toBeNull()
  })

  it('listens on IPv6', async () => {
    const server = serverOf(createServer({ handler: demoHandler }))
    const { host, port, family } = await server.listen({ host: '::1', port: 0 })
    expect({ host, family }).toEqual({ host: '::1', family: 'IPv6' })
    const client = await connect({ host: '::1', port })
    expect(await client.request('echo v6')).toEqual(['v6'])
    expect(server.active?.remote.address).toBe('::1')
    await client.close()
  })

  it('refuses a misspelt listen option', async () => {
    const server = serverOf(createServer())
    await expect(server.listen({ prot: 0 } as never)).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE', message: expect.stringContaining("did you mean 'port'") })
  })

  it('refuses a connection past limits.maxConnections before building anything for it', async () => {
    const server = serverOf(createServer({ handler: demoHandler, limits: { maxConnections: 2 } }))
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    const admitted: OnelineConnection[] = []
    server.on('connection', (connection) => admitted.push(connection))
    const refused = once(server, 'clientError')
    await res.socket(port)
    await res.socket(port)
    const third = await res.socket(port)
    const [err, peer] = (await refused) as [Error, PeerInfo]
    expect(err).toMatchObject({ code: ErrorCode.TOO_MANY_CONNECTIONS, name: 'OnelineTooManyConnectionsError', limit: 2 })
    expect(peer).toEqual({ address: '127.0.0.1', port: third.socket.localPort })
    expect(await third.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    expect(admitted.map((connection) => connection.port)).not.toContain(third.socket.localPort)
    expect(server.connections.size).toBe(2)
  })
})

describe('behind a balancer: the PROXY protocol', () => {
  const client: PeerInfo = { address: '203.0.113.7', port: 40_404 }

  it.each([1, 2] as const)('reports the client a v%d header names: remote, ctx.remote and the connection', async (version) => {
    const remotes: PeerInfo[] = []
    const server = serverOf(
      createServer({
        handler: (command, ctx) => {
          remotes.push(ctx.remote)
          return command
        },
      }),
    )
    const { port } = await server.listen({ host: '127.0.0.1', port: 0, proxyProtocol: 'any' })
    const admitted = once(server, 'connection')
    const balancer = await res.socket(port)
    balancer.write(encodeProxyHeader({ version, command: 'proxy', transport: 'tcp', source: client, destination: { address: '127.0.0.1', port } }))
    balancer.write('hello\n')
    expect(await balancer.line()).toBe('hello\n')
    const [connection] = (await admitted) as [OnelineConnection]
    expect(connection.remote).toEqual(client)
    expect({ address: connection.address, port: connection.port }).toEqual(client)
    expect(remotes).toEqual([client])
  })

  it('refuses a connection without a header as ERR_ONELINE_PROXY_HEADER, naming the balancer', async () => {
    const server = serverOf(createServer({ handler: demoHandler }))
    const { port } = await server.listen({ host: '127.0.0.1', port: 0, proxyProtocol: 'v2' })
    const reported = once(server, 'clientError')
    const direct = await res.socket(port)
    direct.write('\u001b[2J ping\r\n')
    const [err, peer] = (await reported) as [Error, PeerInfo]
    expect(err).toMatchObject({ code: ErrorCode.PROXY_HEADER, name: 'OnelineProxyHeaderError', reason: 'invalid' })
    expect(err.message).not.toMatch(/[\u0000-\u001f]/)
    expect(peer).toEqual({ address: '127.0.0.1', port: direct.socket.localPort })
    expect(await direct.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
  })

  it('reads the header before the TLS handshake', async () => {
    const server = serverOf(createServer({ handler: (_command, ctx) => ctx.remote.address }))
    const { port } = await server.listen({ host: '127.0.0.1', port: 0, proxyProtocol: 'v1', tls: { key: certificate.key, cert: certificate.cert } })
    const socket = net.connect({ host: '127.0.0.1', port })
    await once(socket, 'connect')
    socket.write(encodeProxyHeader({ version: 1, command: 'proxy', transport: 'tcp', source: client, destination: { address: '127.0.0.1', port } }))
    const tlsClient = await connect({ socket, tls: { ca: certificate.ca, servername: 'localhost' } })
    expect(await tlsClient.request('who')).toEqual([client.address])
    await tlsClient.close()
  })
})
