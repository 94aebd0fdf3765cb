import { once } from 'node:events'
import net from 'node:net'
import tls from 'node:tls'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { encodeProxyHeader } from '@proto/framing'
import { makeTestCertificate, silentServer, tempSocketPath } from '@proto/framing/testing'
import type { SilentServer, TempSocketPath } from '@proto/framing/testing'
import { connect } from '../src/client.ts'
import { DEFAULT_CONNECT_TIMEOUT } from '../src/constants.ts'
import { currentCall } from '../src/context.ts'
import { ErrorCode, KrpcConnectError, KrpcListenError, KrpcTimeoutError } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { KrpcServer } from '../src/server.ts'
import type { KrpcClient, KrpcConnection } from '../src/types.ts'
import { postCall, readResponse } from './helpers.ts'

const servers: KrpcServer[] = []
const clients: KrpcClient[] = []
const others: { close(): Promise<void> }[] = []

function server(...args: Parameters<typeof createServer>): KrpcServer {
  const created = createServer(...args)
  servers.push(created)
  return created
}

async function client(...args: Parameters<typeof connect>): Promise<KrpcClient> {
  const c = await connect(...args)
  clients.push(c)
  return c
}

afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await Promise.all(servers.splice(0).map((s) => s.close({ signal: AbortSignal.abort() })))
  await Promise.all(others.splice(0).map((o) => o.close()))
})

const echo = { echo: (x: unknown) => x, who: () => currentCall().remote }

describe('listen', () => {
  it('resolves with the address, which address() and listening report until close()', async () => {
    const s = server({ handlers: echo })
    expect(s.address()).toBeNull()
    expect(s.listening).toBe(false)
    const address = await s.listen({ host: '127.0.0.1', port: 0 })
    expect(address).toEqual({ host: '127.0.0.1', port: expect.any(Number) as number, family: 'IPv4' })
    expect(s.address()).toEqual(address)
    expect(s.listening).toBe(true)
    await s[Symbol.asyncDispose]()
    expect(s.listening).toBe(false)
    expect(s.address()).toBeNull()
  })

  it('a busy port is ERR_KRPC_LISTEN naming the address, with the cause', async () => {
    const busy = net.createServer().listen(0, '127.0.0.1')
    await once(busy, 'listening')
    others.push({ close: () => new Promise((resolve) => busy.close(() => resolve())) })
    const { port } = busy.address() as net.AddressInfo
    const err: unknown = await server().listen({ host: '127.0.0.1', port }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KrpcListenError)
    expect(err).toMatchObject({ code: ErrorCode.LISTEN, message: expect.stringContaining(`cannot listen on 127.0.0.1:${port}`) as string,
      cause: { code: 'EADDRINUSE' } })
  })

  it('serves over IPv6 and a unix socket, which the client reaches with path', async () => {
    const v6 = server({ handlers: echo })
    const { port } = await v6.listen({ host: '::1', port: 0 })
    expect((await client({ host: '::1', port })).remote).toEqual({ address: '::1', port })
    expect(await (await client({ host: '::1', port })).call('echo', ['six'])).toBe('six')
    const socket: TempSocketPath = await tempSocketPath()
    others.push({ close: () => socket.remove() })
    const local = server({ handlers: echo })
    expect(await local.listen({ path: socket.path })).toEqual({ path: socket.path })
    const c = await client({ path: socket.path })
    expect(c.remote).toEqual({ address: socket.path, port: 0 })
    expect(await c.call('echo', ['unix'])).toBe('unix')
    expect(await c.call('who')).toEqual({ address: '', port: 0 })
  })

  it('serves HTTPS with tls, which the client reaches with an https: URL and its CA', async () => {
    const { key, cert, ca } = await makeTestCertificate()
    const s = server({ handlers: echo })
    const { port } = await s.listen({ host: '127.0.0.1', port: 0, tls: { key, cert } })
    const c = await client({ url: `https://127.0.0.1:${port}/rpc`, tls: { ca } })
    expect(await c.call('echo', ['secret'])).toBe('secret')
    const untrusting = await client({ url: `https://127.0.0.1:${port}/rpc` })
    const err: unknown = await untrusting.call('echo', ['x']).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KrpcConnectError)
    expect(err).toMatchObject({ code: ErrorCode.CONNECT, message: expect.stringContaining(`127.0.0.1:${port}`) as string })
    await expect(connect({ tls: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('refuses a connection past maxConnections before any request, with the peer as PeerInfo', async () => {
    const s = server({ handlers: echo, limits: { maxConnections: 1 } })
    const refused: [unknown, unknown][] = []
    s.on('clientError', (err, peer) => refused.push([err, peer]))
    const admitted: KrpcConnection[] = []
    s.on('connection', (connection) => admitted.push(connection))
    const { port } = await s.listen({ host: '127.0.0.1', port: 0 })
    const first = net.connect({ host: '127.0.0.1', port })
    await once(s, 'connection')
    const second = net.connect({ host: '127.0.0.1', port })
    await once(second, 'connect')
    const secondPort = second.localPort
    await once(second, 'close')
    first.destroy()
    expect(admitted).toHaveLength(1)
    expect(refused).toEqual([[expect.objectContaining({ code: ErrorCode.TOO_MANY_CONNECTIONS, limit: 1 }),
      { address: '127.0.0.1', port: secondPort }]])
  })

  it('reports an accept failure as acceptError and keeps listening', async () => {
    const made: net.Server[] = []
    const create = net.createServer.bind(net)
    vi.spyOn(net, 'createServer').mockImplementation(((...args: Parameters<typeof net.createServer>) => {
      const created = create(...args)
      made.push(created)
      return created
    }))
    const s = server({ handlers: echo })
    const { port } = await s.listen({ host: '127.0.0.1', port: 0 })
    vi.restoreAllMocks()
    const failures: unknown[] = []
    s.on('acceptError', (err) => failures.push(err))
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' })
    made[0]?.emit('error', emfile)
    expect(failures).toEqual([expect.objectContaining({ code: ErrorCode.LISTEN, cause: emfile })])
    expect(await (await client({ port })).call('echo', ['still'])).toBe('still')
  })

  it('tracks its connections, each with its remote, and closes one that never sent a byte at once', async () => {
    const s = server({ handlers: echo })
    const { port } = await s.listen({ host: '127.0.0.1', port: 0 })
    const silent = net.connect({ host: '127.0.0.1', port })
    await once(s, 'connection')
    expect([...s.connections].map((c) => c.remote)).toEqual([{ address: '127.0.0.1', port: silent.localPort }])
    const [connection] = [...s.connections]
    expect(connection).toMatchObject({ address: '127.0.0.1', port: silent.localPort })
    await s.close()
    await connection?.closed
    expect(s.connections.size).toBe(0)
    // The same over TLS, once the handshake is done.
    const { key, cert, ca } = await makeTestCertificate()
    const secure = server({ handlers: echo })
    const address = await secure.listen({ host: '127.0.0.1', port: 0, tls: { key, cert } })
    const quiet = tls.connect({ host: '127.0.0.1', port: address.port, ca, servername: 'localhost' })
    quiet.on('error', () => {})
    await once(secure, 'connection')
    await secure.close()
    expect(secure.connections.size).toBe(0)
    quiet.destroy()
  })
})

describe('PROXY protocol', () => {
  it('reports the client the header names: in the context, the connection and clientError', async () => {
    const s = server({ handlers: echo })
    const errors: [unknown, unknown][] = []
    s.on('clientError', (err, peer) => errors.push([err, peer]))
    const { port } = await s.listen({ host: '127.0.0.1', port: 0, proxyProtocol: 'v1' })
    const header = encodeProxyHeader({ version: 1, command: 'proxy', transport: 'tcp',
      source: { address: '192.0.2.7', port: 4321 }, destination: { address: '127.0.0.1', port } })
    const socket = net.connect({ host: '127.0.0.1', port })
    await once(socket, 'connect')
    socket.write(Buffer.concat([header, postCall('{"method": "who"}')]))
    const res = await readResponse(socket)
    socket.destroy()
    expect(JSON.parse(res.body.toString())).toEqual({ result: { address: '192.0.2.7', port: 4321 } })
    const bad = net.connect({ host: '127.0.0.1', port })
    await once(bad, 'connect')
    const badPort = bad.localPort
    bad.end('GET / HTTP/1.1\r\n\r\n')
    await once(bad, 'close')
    await vi.waitFor(() => expect(errors).toHaveLength(1))
    expect(errors[0]).toEqual([expect.objectContaining({ code: ErrorCode.PROXY_HEADER, reason: 'invalid' }),
      { address: '127.0.0.1', port: badPort }])
  })
})

describe('client connect', () => {
  let silent: SilentServer | undefined
  afterEach(async () => {
    await silent?.close()
    silent = undefined
  })

  it('connectTimeout (default 30 s) fails the call with KrpcTimeoutError naming the target', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    silent = await silentServer()
    // A TLS handshake the silent peer never answers: the connection is not up until it is done.
    const c = await client({ url: `https://127.0.0.1:${silent.port}/`, timeout: Number.POSITIVE_INFINITY })
    let failure: unknown
    c.call('echo', ['x']).catch((err: unknown) => {
      failure = err
    })
    await silent.accepted()
    await vi.advanceTimersByTimeAsync(DEFAULT_CONNECT_TIMEOUT - 1)
    expect(failure).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(failure).toBeInstanceOf(KrpcTimeoutError)
    expect(failure).toMatchObject({ name: 'TimeoutError', code: ErrorCode.TIMEOUT,
      message: `connect to 127.0.0.1:${silent.port} timed out after ${DEFAULT_CONNECT_TIMEOUT} ms` })
  })

  it('no server is ERR_KRPC_CONNECT naming the target, with the cause', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1')
    await once(probe, 'listening')
    const { port } = probe.address() as net.AddressInfo
    await new Promise((resolve) => probe.close(resolve))
    const err: unknown = await (await client({ port })).call('echo', ['x']).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: ErrorCode.CONNECT, target: `127.0.0.1:${port}`, cause: { code: 'ECONNREFUSED' } })
  })
})
