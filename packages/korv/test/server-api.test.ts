import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import dc from 'node:diagnostics_channel'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeProxyHeader } from '@proto/framing'
import type { PathAddress, TcpAddress } from '@proto/framing'
import { describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { createDemoHandlers } from '../src/demo.ts'
import { ErrorCode } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { KorvConnection } from '../src/types.ts'
import { fingerprintOf, keyPair, openRaw, startServer } from './helpers.ts'

const hostKey = keyPair('ed25519', 0)
const clientKey = keyPair('ed25519', 1)
const make = (extra: Record<string, unknown> = {}) =>
  createServer({ hostKeys: [hostKey.private], authorizedKeys: `${clientKey.public}\n`, handlers: createDemoHandlers(), ...extra })
const trust = { privateKey: clientKey.private, hostKeyFingerprint: fingerprintOf(hostKey.public) }

describe('the server', () => {
  it('refuses a misspelt option, at the top and in limits, naming the closest one', () => {
    expect(() => make({ handler: {} })).toThrow(/unknown option 'handler' .*did you mean 'handlers'/)
    expect(() => make({ limits: { maxConection: 1 } })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE', message: expect.stringMatching(/maxConnections/) }))
  })

  it('says where it listens, whether it does, and stops with Symbol.asyncDispose', async () => {
    const server = make()
    expect([server.listening, server.address()]).toEqual([false, null])
    const address = (await server.listen({ host: '127.0.0.1', port: 0 })) as TcpAddress
    expect(server.listening).toBe(true)
    expect(server.address()).toEqual(address)
    expect(address).toMatchObject({ host: '127.0.0.1', family: 'IPv4' })
    await server[Symbol.asyncDispose]()
    expect([server.listening, server.address()]).toEqual([false, null])
  })

  it('reports a busy port as ERR_KORV_LISTEN with the address and cause', async () => {
    const first = make()
    const { port } = (await first.listen({ host: '127.0.0.1', port: 0 })) as TcpAddress
    await expect(make().listen({ host: '127.0.0.1', port })).rejects.toMatchObject({
      code: ErrorCode.LISTEN,
      message: expect.stringContaining(`127.0.0.1:${port}`),
      cause: { code: 'EADDRINUSE' },
    })
    await first.close()
  })

  it('refuses tls: SSH encrypts', async () => {
    await expect(make().listen({ port: 0, tls: {} })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('serves a unix socket, which a client reaches through `socket`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'korv-'))
    const server = make()
    const { path } = (await server.listen({ path: join(dir, 'korv.sock') })) as PathAddress
    const socket = net.connect(path)
    await once(socket, 'connect')
    const client = await connect({ ...trust, socket })
    expect(await client.get('/hello')).toEqual({ code: 200, body: { msg: 'Hello World!' } })
    expect(server.connections.size).toBe(1)
    await client.close()
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('with proxyProtocol, reports the client the header names, in contexts and connections', async () => {
    const seen: string[] = []
    const handlers = createDemoHandlers()
    handlers.GET['/who'] = (_request, ctx) => void seen.push(`${ctx.remote.address}:${ctx.remote.port}`)
    const server = make({ handlers })
    const opened: KorvConnection[] = []
    server.on('connection', (c) => opened.push(c))
    const { port } = (await server.listen({ host: '127.0.0.1', port: 0, proxyProtocol: 'v2' })) as TcpAddress
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.write(encodeProxyHeader({ version: 2, command: 'proxy', transport: 'tcp', source: { address: '203.0.113.7', port: 4242 }, destination: { address: '127.0.0.1', port } }))
    const client = await connect({ ...trust, socket })
    await client.get('/who')
    expect(seen).toEqual(['203.0.113.7:4242'])
    expect(opened.map((c) => [c.remote, c.address])).toEqual([[{ address: '203.0.113.7', port: 4242 }, '203.0.113.7']])
    await client.close()
    await server.close()
  })

  it("resolves a connection's `closed` once it is gone, and not before", async () => {
    const t = await startServer()
    const opened = once(t.server, 'connection') as Promise<[KorvConnection]>
    const client = await connect({ ...trust, host: '127.0.0.1', port: t.port })
    const [connection] = await opened
    let settled = false
    const closed = connection.closed.then(() => (settled = true))
    expect(await client.get('/hello')).toMatchObject({ code: 200 })
    expect(settled).toBe(false)
    await client.close()
    await closed
    expect([settled, t.server.connections.has(connection)]).toEqual([true, false])
    await t.close()
  })

  it('refuses a connection without the PROXY header as ERR_KORV_PROXY_HEADER', async () => {
    const server = make()
    const errors: unknown[] = []
    server.on('clientError', (err) => errors.push(err))
    const { port } = (await server.listen({ host: '127.0.0.1', port: 0, proxyProtocol: 'v1' })) as TcpAddress
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', () => {})
    socket.write('SSH-2.0-OpenSSH_9.6\r\n')
    await once(socket, 'close')
    expect(errors).toMatchObject([{ code: ErrorCode.PROXY_HEADER }])
    await server.close()
  })
})

describe('handler errors', () => {
  it('send `internal error` unless marked expose: true, and report the error in full', async () => {
    const handlers = createDemoHandlers()
    handlers.GET['/secret'] = () => {
      throw new Error("ENOENT: no such file or directory, open '/srv/secret/db-password.txt'")
    }
    handlers.GET['/public'] = () => {
      throw Object.assign(new Error('no such item'), { expose: true })
    }
    const t = await startServer({ handlers })
    const client = await connect({ ...trust, host: '127.0.0.1', port: t.port })
    expect(await client.request('GET', '/secret')).toEqual({ code: 500, body: { message: 'internal error' } })
    expect(await client.request('GET', '/public')).toEqual({ code: 500, body: { message: 'no such item' } })
    expect(t.handlerErrors).toMatchObject([{ message: expect.stringContaining('db-password') }, { message: 'no such item' }])
    await client.close()
    await t.close()
  })
})

describe('diagnostics', () => {
  it('publishes listening, connection and request messages in order, with side and remote', async () => {
    const names = ['server:listening', 'connection:open', 'request:start', 'request:end', 'request:error', 'connection:close']
    const seen: { name: string; side: unknown; remote?: unknown; request?: unknown }[] = []
    const subscribers = names.map((name) => {
      const fn = (message: unknown): void => {
        const m = message as { side: unknown; remote?: unknown; request?: unknown }
        seen.push({ name, side: m.side, remote: m.remote, request: m.request === undefined ? undefined : { ...(m.request as object) } })
      }
      dc.subscribe(`proto:korv:${name}`, fn)
      return [name, fn] as const
    })
    try {
      const t = await startServer()
      const client = await connect({ ...trust, host: '127.0.0.1', port: t.port })
      await client.get('/hello')
      await client.request('GET', '/boom')
      await client.close()
      await t.close()
      const server = seen.filter((m) => m.side === 'server')
      expect(server.map((m) => m.name)).toEqual([
        'server:listening', 'connection:open', 'request:start', 'request:end', 'request:start', 'request:error', 'connection:close',
      ])
      expect(server[1]?.remote).toMatchObject({ address: '127.0.0.1' })
      expect(server[3]?.request).toMatchObject({ verb: 'GET', resource: '/hello', code: 200 })
      const clientSide = seen.filter((m) => m.side === 'client').map((m) => m.name)
      expect(clientSide).toEqual(['connection:open', 'request:start', 'request:end', 'request:start', 'request:end', 'connection:close'])
    } finally {
      for (const [name, fn] of subscribers) dc.unsubscribe(`proto:korv:${name}`, fn)
    }
  })

  it('publishes the requests the server answers itself: 404 as request:end, 400 and 500 closing as request:error', async () => {
    const seen: { name: string; request: unknown; error?: unknown }[] = []
    const subscribers = (['start', 'end', 'error'] as const).map((name) => {
      const fn = (message: unknown): void => {
        const { side, request, error } = message as { side: string; request: object; error?: unknown }
        if (side === 'server') seen.push({ name, request: { ...request }, ...(error === undefined ? {} : { error }) })
      }
      dc.subscribe(`proto:korv:request:${name}`, fn)
      return [name, fn] as const
    })
    try {
      let release!: () => void
      let started!: () => void
      const running = new Promise<void>((resolve) => (started = resolve))
      const handlers = createDemoHandlers()
      handlers.GET['/slow'] = async () => {
        started()
        await new Promise<void>((resolve) => (release = resolve))
      }
      const t = await startServer({ handlers })
      const raw = await openRaw(t.port, t.clientKey.private)
      raw.request({ id: 1, verb: 'GET', resource: '/nope' })
      expect(await raw.next()).toMatchObject({ request_id: 1, code: 404 })
      raw.request({ id: 2, resource: '/hello' })
      expect(await raw.next()).toMatchObject({ request_id: 2, code: 400 })
      raw.send(Buffer.from('not a gzip member'))
      expect(await raw.next()).toMatchObject({ request_id: 0, code: 400 })
      raw.request({ id: 3, verb: 'GET', resource: '/slow' })
      await running
      const closing = t.server.close()
      raw.request({ id: 4, verb: 'GET', resource: '/hello' })
      expect(await raw.next()).toMatchObject({ request_id: 4, code: 500 })
      release()
      await raw.next()
      await closing
      expect(seen).toEqual([
        { name: 'start', request: { verb: 'GET', resource: '/nope', id: 1, code: 404 } },
        { name: 'end', request: { verb: 'GET', resource: '/nope', id: 1, code: 404 } },
        { name: 'start', request: { verb: '', resource: '', id: 2, code: 400 } },
        { name: 'error', request: { verb: '', resource: '', id: 2, code: 400 }, error: expect.objectContaining({ code: ErrorCode.BAD_MESSAGE }) },
        { name: 'start', request: { verb: '', resource: '', id: 0, code: 400 } },
        { name: 'error', request: { verb: '', resource: '', id: 0, code: 400 }, error: expect.objectContaining({ code: ErrorCode.BAD_MESSAGE }) },
        { name: 'start', request: { verb: 'GET', resource: '/slow', id: 3 } },
        { name: 'start', request: { verb: 'GET', resource: '/hello', id: 4, code: 500 } },
        { name: 'error', request: { verb: 'GET', resource: '/hello', id: 4, code: 500 }, error: expect.objectContaining({ code: ErrorCode.CLOSED }) },
        { name: 'end', request: { verb: 'GET', resource: '/slow', id: 3, code: 200 } },
      ])
    } finally {
      for (const [name, fn] of subscribers) dc.unsubscribe(`proto:korv:request:${name}`, fn)
    }
  })

  it('publishes request:error, not request:end, for a reply whose channel closed before it was sent', async () => {
    let settle!: (outcome: { name: string; error?: unknown }) => void
    const outcome = new Promise<{ name: string; error?: unknown }>((resolve) => (settle = resolve))
    const onEnd = (m: unknown): void => {
      if ((m as { side: string }).side === 'server') settle({ name: 'end' })
    }
    const onError = (m: unknown): void => {
      const { side, error } = m as { side: string; error: unknown }
      if (side === 'server') settle({ name: 'error', error })
    }
    dc.subscribe('proto:korv:request:end', onEnd)
    dc.subscribe('proto:korv:request:error', onError)
    let release!: () => void
    let started!: () => void
    const running = new Promise<void>((resolve) => (started = resolve))
    const handlers = createDemoHandlers()
    handlers.GET['/slow'] = async () => {
      started()
      await new Promise<void>((resolve) => (release = resolve))
    }
    const t = await startServer({ handlers })
    try {
      const raw = await openRaw(t.port, t.clientKey.private)
      raw.request({ id: 1, verb: 'GET', resource: '/slow' })
      await running
      const [connection] = t.server.connections
      await raw.close()
      await connection?.closed
      release()
      expect(await outcome).toEqual({ name: 'error', error: expect.objectContaining({ code: ErrorCode.CLOSED }) })
    } finally {
      dc.unsubscribe('proto:korv:request:end', onEnd)
      dc.unsubscribe('proto:korv:request:error', onError)
      await t.close()
    }
  })

  it("publishes a server's connection:open once the peer has logged in, and connection:close with what ended it", async () => {
    const seen: { name: string; error?: unknown }[] = []
    const onOpen = (m: unknown): void => {
      if ((m as { side: string }).side === 'server') seen.push({ name: 'open' })
    }
    const onClose = (m: unknown): void => {
      const { side, error } = m as { side: string; error?: unknown }
      if (side === 'server') seen.push({ name: 'close', ...(error === undefined ? {} : { error }) })
    }
    dc.subscribe('proto:korv:connection:open', onOpen)
    dc.subscribe('proto:korv:connection:close', onClose)
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const t = await startServer({ limits: { idleTimeout: 1000 } })
      const refused = once(t.server, 'connection') as Promise<[KorvConnection]>
      const stranger = keyPair('ed25519', 2)
      await expect(connect({ ...trust, privateKey: stranger.private, host: '127.0.0.1', port: t.port })).rejects.toMatchObject({ code: ErrorCode.AUTH_FAILED })
      await (await refused)[0].closed
      expect(seen).toEqual([])

      const admitted = once(t.server, 'connection') as Promise<[KorvConnection]>
      const client = await connect({ ...trust, host: '127.0.0.1', port: t.port })
      const [connection] = await admitted
      expect(connection.authenticated).toBe(true)
      expect(seen).toEqual([{ name: 'open' }])
      vi.advanceTimersByTime(1000)
      await connection.closed
      expect(seen).toEqual([{ name: 'open' }, { name: 'close', error: expect.objectContaining({ code: ErrorCode.IDLE_TIMEOUT }) }])
      await client.closed
      vi.useRealTimers()
      await t.close()
    } finally {
      vi.useRealTimers()
      dc.unsubscribe('proto:korv:connection:open', onOpen)
      dc.unsubscribe('proto:korv:connection:close', onClose)
    }
  })
})


describe('peer text in clientError', () => {
  it('a DISCONNECT description sent before authentication is escaped', async () => {
    const t = await startServer()
    const reported = t.nextClientError()
    const socket = net.connect(t.port, '127.0.0.1')
    socket.on('error', () => {})
    const description = Buffer.from('\n[auth] root logged in\u001b[2J')
    const payload = Buffer.concat([Buffer.from([1, 0, 0, 0, 2]), u32(description.length), description, u32(0)])
    const padding = 8 - ((payload.length + 5) % 8) + 8
    socket.write(Buffer.concat([Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'), u32(payload.length + padding + 1), Buffer.from([padding]), payload, Buffer.alloc(padding)]))
    const err = await reported
    expect(err.message).toContain(String.raw`\n[auth] root logged in\x1b[2J`)
    expect(err.message).not.toMatch(/[\n\u001b]/)
    socket.destroy()
    await t.close()
  })
})

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
