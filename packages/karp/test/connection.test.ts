import { Buffer } from 'node:buffer'
import net from 'node:net'
import { duplexPair } from '@proto/framing/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { decodeFrame, encodeResponse } from '../src/codec.ts'
import { DEFAULT_KEEP_ALIVE } from '../src/constants.ts'
import type { KarpError } from '../src/errors.ts'
import type { KarpContext, KarpPeer } from '../src/peer.ts'
import { createServer } from '../src/server.ts'
import { RawClient, deferred, peerOn } from './helpers.ts'

afterEach(() => {
  vi.restoreAllMocks()
})

function pair(server: Parameters<typeof peerOn>[1] = {}, client: Parameters<typeof peerOn>[1] = {}): [KarpPeer, KarpPeer] {
  const [a, b] = duplexPair()
  return [peerOn(a, client), peerOn(b, server)]
}

describe('requests and replies', () => {
  it('sends strings and bytes, and answers both directions over one connection', async () => {
    const [client, server] = pair(
      { routes: { echo: (ctx) => ctx.data, ask: async (ctx) => `asked ${(await ctx.peer.request('name')).text()}` } },
      { routes: { name: () => 'client' } },
    )
    const reply = await client.request('echo', new Uint8Array([0, 0xff, 10]))
    expect(reply.data).toEqual(Buffer.from([0, 0xff, 10]))
    expect(reply.id).toMatch(/^[0-9]{16}$/)
    expect((await client.request('ECHO', 'héllo')).text()).toBe('héllo')
    expect((await client.request('ask')).text()).toBe('asked client')
    expect((await server.request('name')).text()).toBe('client')
    expect((await client.request('echo')).data).toHaveLength(0)
    await client.close()
    await server.closed
  })

  it('gives a handler the route, id, data, text, flag and peer', async () => {
    const seen = deferred<KarpContext>()
    const [client, server] = pair({ routes: { look: (ctx) => seen.resolve(ctx) } })
    await client.notify('LOOK', new Uint8Array([0x68, 0xff]))
    const ctx = await seen.promise
    expect(ctx).toMatchObject({ route: 'look', wantsReply: false, text: 'h\uFFFD', peer: server })
    expect(ctx.id).toMatch(/^[0-9]{16}$/)
    expect(ctx.data).toEqual(Buffer.from([0x68, 0xff]))
    expect(ctx.signal.aborted).toBe(false)
    await client.close()
  })

  it('sends the result types the spec allows, and a failure for any other', async () => {
    const handlerErrors: unknown[] = []
    const [client, server] = pair({
      routes: {
        bytes: () => new Uint8Array([1, 2]),
        nothing: () => null,
        empty: () => '',
        undef: () => Promise.resolve(undefined),
        object: () => ({ a: 1 }) as unknown as string,
        boolean: () => Promise.resolve(true as unknown as string),
      },
    })
    server.on('handlerError', (err) => handlerErrors.push(err))
    expect((await client.request('bytes')).data).toEqual(Buffer.from([1, 2]))
    for (const route of ['nothing', 'empty', 'undef']) expect((await client.request(route)).data).toHaveLength(0)
    await expect(client.request('object')).rejects.toMatchObject({
      code: 'ERR_KARP_REMOTE',
      message: "ERR_KARP_BAD_HANDLER_RESULT: route 'object' returned object; expected string, Uint8Array or undefined",
    })
    await expect(client.request('boolean')).rejects.toMatchObject({ message: expect.stringContaining('returned boolean') })
    expect(handlerErrors).toHaveLength(2)
    await client.close()
  })

  it('answers a throw with the message only, never a stack, and reports it with the context', async () => {
    const reported: [unknown, KarpContext][] = []
    const [a, b] = duplexPair()
    const server = peerOn(b, {
      routes: {
        error: () => {
          throw new Error('bad thing')
        },
        string: () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw 'plain string'
        },
        bare: async () => {
          await Promise.resolve()
          throw Object.create(null) as Error
        },
      },
    })
    server.on('handlerError', (err, ctx) => reported.push([err, ctx]))
    const bytes: Buffer[] = []
    a.on('data', (chunk: Buffer) => bytes.push(chunk))
    const client = peerOn(a)
    await expect(client.request('error')).rejects.toMatchObject({ code: 'ERR_KARP_REMOTE', message: 'bad thing' })
    await expect(client.request('string')).rejects.toMatchObject({ message: 'plain string' })
    await expect(client.request('bare')).rejects.toMatchObject({ message: '[object Object]' })
    expect(reported.map(([, ctx]) => ctx.route)).toEqual(['error', 'string', 'bare'])
    const wireText = Buffer.concat(bytes)
      .toString('latin1')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => Buffer.from(decodeFrame(Buffer.from(line, 'latin1')).data).toString())
    expect(wireText.join('\n')).not.toMatch(/\bat\b|\.ts:/)
    await client.close()
  })

  it('rejects a failure reply with RemoteError carrying the id and the raw data', async () => {
    const [client] = pair({
      routes: {
        fail: () => {
          throw new Error('nö')
        },
      },
    })
    const err = await client.request('fail').catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'RemoteError', code: 'ERR_KARP_REMOTE', message: 'nö', data: Buffer.from('nö') })
    expect((err as { id: string }).id).toMatch(/^[0-9]{16}$/)
    await client.close()
  })

  it('prefers a connection route over a server route, and finds routes case-insensitively', async () => {
    const server = createServer({ routes: { who: () => 'server', Mixed_Case: () => 'mixed' } })
    const { port } = await server.listen({ port: 0 })
    server.on('connection', (peer) => {
      if (server.peers.size === 2) peer.route('WHO', () => 'connection')
    })
    const first = await connect({ port })
    const second = await connect({ port })
    expect((await first.request('who')).text()).toBe('server')
    expect((await second.request('who')).text()).toBe('connection')
    expect((await second.request('mixed_case')).text()).toBe('mixed')
    await Promise.all([first.close(), second.close()])
    await server.close()
  })

  it('serves routes given to connect() to the server', async () => {
    const server = createServer()
    const { port } = await server.listen({ port: 0 })
    const client = await connect({ port, routes: { hello: (ctx) => `hi ${ctx.text}` } })
    const [peer] = [...server.peers]
    expect((await (peer ?? expect.unreachable()).request('hello', 'server')).text()).toBe('hi server')
    await client.close()
    await server.close()
  })

  it('refuses invalid route names when registering and sending', async () => {
    expect(() => createServer({ routes: { v2: () => '' } })).toThrow(expect.objectContaining({ code: 'ERR_KARP_INVALID_ROUTE', route: 'v2' }))
    const [client, server] = pair()
    expect(() => server.route('get-user', () => '')).toThrow(expect.objectContaining({ code: 'ERR_KARP_INVALID_ROUTE' }))
    expect(() => server.route('fine', 'nope' as unknown as () => string)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    await expect(client.request('v2')).rejects.toMatchObject({ code: 'ERR_KARP_INVALID_ROUTE' })
    await expect(client.notify('')).rejects.toMatchObject({ code: 'ERR_KARP_INVALID_ROUTE' })
    await client.close()
  })

  it('drops a reply for an unknown id without a report', async () => {
    const [a, b] = duplexPair()
    const client = peerOn(a)
    const errors: KarpError[] = []
    client.on('protocolError', (err) => errors.push(err))
    b.write(encodeResponse({ id: '1234567890123456', success: true, data: 'late' }))
    b.write(encodeResponse({ id: '1234567890123457', success: false, data: 'late' }))
    b.end()
    await client.closed
    expect(errors).toEqual([])
  })

  it('rejects the pending request when its reply frame is corrupt', async () => {
    const [a, b] = duplexPair()
    const client = peerOn(a)
    const errors: KarpError[] = []
    client.on('protocolError', (err) => errors.push(err))
    b.on('data', (chunk: Buffer) => {
      const { id } = decodeFrame(chunk)
      b.write(`KARP_HEAD11${id}C_LEN5KARP_DATAaGk=KARP_END\n`)
    })
    await expect(client.request('x')).rejects.toMatchObject({ code: 'ERR_KARP_LENGTH_MISMATCH' })
    expect(errors.map((e) => e.code)).toEqual(['ERR_KARP_LENGTH_MISMATCH'])
    client.removeAllListeners()
    b.removeAllListeners('data')
    b.on('data', (chunk: Buffer) => {
      const { id } = decodeFrame(chunk)
      b.write(`KARP_HEAD11${id}C_LEN4KARP_DATAaG-=KARP_END\n`)
    })
    await expect(client.request('x')).rejects.toMatchObject({ code: 'ERR_KARP_BAD_BASE64' })
    b.destroy()
    await client.closed
  })
})

describe('timeouts and aborts', () => {
  it('rejects with a TimeoutError DOMException after `timeout`, per peer or per call, and forgets the id', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    try {
      const [a, b] = duplexPair()
      const client = peerOn(a, { timeout: 500 })
      const sent: Buffer[] = []
      b.on('data', (chunk: Buffer) => sent.push(chunk))
      const errors: KarpError[] = []
      client.on('protocolError', (err) => errors.push(err))
      const first = client.request('slow')
      const second = client.request('slow', '', { timeout: 2000 })
      const settled = vi.fn()
      first.then(settled, settled)
      second.then(settled, settled)
      await vi.advanceTimersByTimeAsync(499)
      expect(settled).not.toHaveBeenCalled()
      await vi.advanceTimersByTimeAsync(1)
      const err = await first.catch((e: unknown) => e)
      expect(err).toBeInstanceOf(DOMException)
      expect(err).toMatchObject({ name: 'TimeoutError' })
      await vi.advanceTimersByTimeAsync(1499)
      expect(settled).toHaveBeenCalledTimes(1)
      await vi.advanceTimersByTimeAsync(1)
      await expect(second).rejects.toMatchObject({ name: 'TimeoutError' })
      // The late reply finds no pending entry and is dropped quietly.
      const { id } = decodeFrame(sent[0] ?? expect.unreachable())
      b.write(encodeResponse({ id, success: true, data: 'late' }))
      b.end()
      await client.closed
      expect(errors).toEqual([])
    } finally {
      vi.useRealTimers()
    }
  })

  it('times out a shorter request made after a longer one at its own deadline, and an answered one never', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    try {
      const [a, b] = duplexPair()
      const client = peerOn(a)
      const sent: Buffer[] = []
      b.on('data', (chunk: Buffer) => sent.push(chunk))
      const settled: string[] = []
      const track = (name: string, reply: Promise<unknown>): void => {
        reply.then(
          () => settled.push(`${name}: answered`),
          (err: unknown) => settled.push(`${name}: ${(err as Error).name}`),
        )
      }
      track('answered', client.request('quick', '', { timeout: 1000 }))
      track('long', client.request('slow', '', { timeout: 2000 }))
      await vi.advanceTimersByTimeAsync(500)
      track('short', client.request('slow', '', { timeout: 100 }))
      const { id } = decodeFrame(sent[0] ?? expect.unreachable())
      b.write(encodeResponse({ id, success: true, data: '' }))
      await vi.advanceTimersByTimeAsync(99)
      expect(settled).toEqual(['answered: answered'])
      await vi.advanceTimersByTimeAsync(1)
      expect(settled).toEqual(['answered: answered', 'short: TimeoutError'])
      await vi.advanceTimersByTimeAsync(1399)
      expect(settled).toHaveLength(2)
      await vi.advanceTimersByTimeAsync(1)
      expect(settled).toEqual(['answered: answered', 'short: TimeoutError', 'long: TimeoutError'])
      b.end()
      await client.closed
    } finally {
      vi.useRealTimers()
    }
  })

  it('rejects with signal.reason on abort, at once when already aborted', async () => {
    const [a, b] = duplexPair()
    const client = peerOn(a)
    const sent: Buffer[] = []
    const arrived = deferred()
    b.on('data', (chunk: Buffer) => {
      sent.push(chunk)
      arrived.resolve()
    })
    b.on('error', () => {})
    const reason = new Error('stop')
    await expect(client.request('x', '', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    await expect(client.notify('x', '', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    const controller = new AbortController()
    const pending = client.request('x', '', { signal: controller.signal })
    await arrived.promise
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    await client.close({ signal: AbortSignal.abort() })
    // Only the call that was not aborted beforehand went out.
    expect(Buffer.concat(sent).toString().split('\n').filter(Boolean)).toHaveLength(1)
  })

  it('refuses a bad per-call timeout, and one longer than a Node timer can wait', async () => {
    const [client] = pair()
    for (const timeout of [-1, 0.5, 2 ** 31]) {
      await expect(client.request('x', '', { timeout })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
      await expect(client.notify('x', '', { timeout })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    }
    expect(() => createServer({ timeout: 2 ** 31 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => createServer({ timeout: 2 ** 31 - 1 })).not.toThrow()
    await client.close()
  })
})

describe('close', () => {
  it('waits for running handlers and pending requests, answers newcomers with closing, then ends', async () => {
    const release = deferred<string>()
    const started = deferred()
    const [client, server] = pair({
      routes: {
        slow: () => {
          started.resolve()
          return release.promise
        },
        echo: (ctx) => ctx.data,
      },
    })
    const slow = client.request('slow')
    await started.promise
    const closing = server.close()
    await expect(server.request('echo')).rejects.toMatchObject({ code: 'ERR_KARP_CLOSED' })
    await expect(server.notify('echo')).rejects.toMatchObject({ code: 'ERR_KARP_CLOSED' })
    await expect(client.request('echo', 'x')).rejects.toMatchObject({ code: 'ERR_KARP_REMOTE', message: 'closing' })
    release.resolve('done')
    expect((await slow).text()).toBe('done')
    await closing
    await client.closed
    await expect(client.request('echo')).rejects.toMatchObject({ code: 'ERR_KARP_CLOSED' })
  })

  it('waits for its own pending requests before ending', async () => {
    const release = deferred<string>()
    const started = deferred()
    const [client, server] = pair({
      routes: {
        slow: () => {
          started.resolve()
          return release.promise
        },
      },
    })
    const slow = client.request('slow')
    await started.promise
    const closing = client.close()
    // The client has not ended its side: it still reads, and answers the server with 'closing'
    // (after a FIN the server's call would be refused with ERR_KARP_CLOSED instead).
    await expect(server.request('anything')).rejects.toMatchObject({ code: 'ERR_KARP_REMOTE', message: 'closing' })
    release.resolve('late but answered')
    expect((await slow).text()).toBe('late but answered')
    await closing
    await server.closed
  })

  it('rejects pending calls with CLOSED when the peer ends its side, and still answers it', async () => {
    const [a, b] = duplexPair()
    const client = peerOn(a)
    const release = deferred<string>()
    const server = peerOn(b, { routes: { slow: () => release.promise } })
    const fromServer = server.request('anything')
    const slow = client.request('slow')
    a.end()
    await expect(fromServer).rejects.toMatchObject({ code: 'ERR_KARP_CLOSED' })
    release.resolve('after FIN')
    expect((await slow).text()).toBe('after FIN')
    await server.closed
  })

  it('close({ signal }) destroys at once, aborting handlers and rejecting calls', async () => {
    const aborted = deferred<unknown>()
    const started = deferred()
    const [client, server] = pair({
      routes: {
        hang: (ctx) => {
          ctx.signal.addEventListener('abort', () => aborted.resolve(ctx.signal.reason))
          started.resolve()
          return new Promise(() => {})
        },
      },
    })
    const closeEvents: unknown[] = []
    client.on('close', (err) => closeEvents.push(err))
    const hanging = client.request('hang')
    await started.promise
    const controller = new AbortController()
    const closing = server.close({ signal: controller.signal })
    controller.abort(new Error('enough'))
    await closing
    expect(await aborted.promise).toMatchObject({ code: 'ERR_KARP_CLOSED' })
    await expect(hanging).rejects.toMatchObject({ code: 'ERR_KARP_CLOSED' })
    await client.closed
    expect(closeEvents).toEqual([expect.objectContaining({ code: 'ERR_KARP_CLOSED' })])
    expect(await aborted.promise).toMatchObject({ message: 'close was aborted', cause: { message: 'enough' } })
  })

  it('a context made after the connection failed starts aborted', async () => {
    const seen = deferred<KarpContext>()
    const [client] = pair({ routes: { keep: (ctx) => (seen.resolve(ctx), new Promise(() => {})) } })
    void client.request('keep').catch(() => {})
    const ctx = await seen.promise
    await client.close({ signal: AbortSignal.abort() })
    await ctx.peer.closed
    expect(ctx.signal.aborted).toBe(true)
  })

  it('supports Symbol.asyncDispose', async () => {
    const [client, server] = pair()
    await client[Symbol.asyncDispose]()
    await server.closed
    await expect(client.request('x')).rejects.toMatchObject({ code: 'ERR_KARP_CLOSED' })
  })

  it('server.close() stops accepting, closes every peer and emits close', async () => {
    const release = deferred<string>()
    const started = deferred()
    const server = createServer({
      routes: {
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
    expect(server.peers.size).toBe(0)
    await server.close()
    expect(closeEvent).toHaveBeenCalledTimes(1)
  })
})

describe('connect and listen', () => {
  it('wraps a refused connection as ERR_KARP_CONNECT with the net error as cause', async () => {
    const probe = net.createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const { port } = probe.address() as net.AddressInfo
    await new Promise((resolve) => probe.close(resolve))
    const err = await connect({ port }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'KarpConnectError', code: 'ERR_KARP_CONNECT', cause: { code: 'ECONNREFUSED' } })
  })

  it('rejects connect with signal.reason on abort', async () => {
    const reason = new Error('no')
    await expect(connect({ port: 1, signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    const controller = new AbortController()
    // 192.0.2.0/24 is reserved for documentation: the connect never completes by itself.
    const pending = connect({ host: '192.0.2.1', port: 7755, signal: controller.signal })
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
  })

  it('wraps a listen failure as ERR_KARP_LISTEN, and closes on the listen signal', async () => {
    const first = createServer()
    const { port, host } = await first.listen({ port: 0 })
    expect(host).toBe('127.0.0.1')
    const second = createServer()
    await expect(second.listen({ port })).rejects.toMatchObject({ code: 'ERR_KARP_LISTEN', cause: { code: 'EADDRINUSE' } })
    await first.close()
    const controller = new AbortController()
    const third = createServer()
    const closed = deferred()
    third.on('close', () => closed.resolve())
    const bound = await third.listen({ port: 0, signal: controller.signal })
    controller.abort()
    await closed.promise
    await expect(connect({ port: bound.port })).rejects.toMatchObject({ code: 'ERR_KARP_CONNECT' })
    const reason = new Error('never')
    await expect(createServer().listen({ port: 0, signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    await expect(createServer().listen({ port: 70_000 })).rejects.toMatchObject({ code: 'ERR_KARP_LISTEN' })
    const twice = createServer()
    await twice.listen({ port: 0 })
    await expect(twice.listen({ port: 0 })).rejects.toMatchObject({ code: 'ERR_KARP_LISTEN' })
    await twice.close()
  })

  it('turns keep-alive on with the default delay, a given one, or not at all, and reports the remote', async () => {
    const spy = vi.spyOn(net.Socket.prototype, 'setKeepAlive')
    const server = createServer({ keepAlive: false })
    const { port } = await server.listen({ port: 0 })
    const accepted = deferred()
    server.on('connection', () => {
      if (server.peers.size === 2) accepted.resolve()
    })
    const a = await connect({ port })
    const b = await connect({ port, keepAlive: 1234 })
    await accepted.promise
    expect(spy.mock.calls).toEqual([
      [true, DEFAULT_KEEP_ALIVE],
      [true, 1234],
    ])
    expect(a.remote).toEqual({ address: '127.0.0.1', port })
    for (const peer of server.peers) expect(peer.remote.address).toBe('127.0.0.1')
    await Promise.all([a.close(), b.close()])
    await server.close()
  })

  it('refuses bad options with ERR_PROTO_USAGE', () => {
    for (const options of [
      { maxFrameBytes: 10 },
      { maxInFlight: 0 },
      { timeout: 1.5 },
      { keepAlive: -1 },
      { maxWriteBufferBytes: Number.POSITIVE_INFINITY },
      { maxConnections: 0 },
    ]) {
      expect(() => createServer(options)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    }
  })

  it('talks to a raw socket with keep-alive and no delay', async () => {
    const server = createServer({ routes: { echo: (ctx) => ctx.data } })
    const { port } = await server.listen({ port: 0 })
    const raw = await RawClient.connect(port)
    await raw.write('KARP_HEADecho011111111111111111C_LEN4KARP_DATAaGk=KARP_END\n')
    expect((await raw.line()).toString()).toBe('KARP_HEAD111111111111111111C_LEN4KARP_DATAaGk=KARP_END\n')
    raw.destroy()
    await server.close()
  })
})
