import { Buffer } from 'node:buffer'
import { duplexPair } from '@proto/framing/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { decodeFrame, encodeRequest, encodeResponse } from '../src/codec.ts'
import type { KarpError } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { KarpConnection, KarpContext, KarpRequest } from '../src/types.ts'
import { connectionOn, deferred, publicError } from './helpers.ts'

afterEach(() => {
  vi.useRealTimers()
})

/**
 * Runs `body` and resolves with the first unhandled rejection it leaves, which a listener's throw
 * inside the connection's own promise callbacks becomes, caught here rather than by the runner.
 */
async function unhandledRejection(body: () => Promise<void>): Promise<unknown> {
  const escaped = deferred<unknown>()
  const runners = process.listeners('unhandledRejection')
  process.removeAllListeners('unhandledRejection')
  process.once('unhandledRejection', (reason) => escaped.resolve(reason))
  try {
    await body()
    return await escaped.promise
  } finally {
    process.removeAllListeners('unhandledRejection')
    for (const listener of runners) process.on('unhandledRejection', listener)
  }
}

function pair(server: Parameters<typeof connectionOn>[1] = {}, client: Parameters<typeof connectionOn>[1] = {}): [KarpConnection, KarpConnection] {
  const [a, b] = duplexPair()
  return [connectionOn(a, client), connectionOn(b, server, undefined, 'server')]
}

/** The payloads of the failure replies in `bytes`, as text. */
function failureTexts(bytes: Buffer[]): string[] {
  return Buffer.concat(bytes)
    .toString('latin1')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => decodeFrame(Buffer.from(line, 'latin1')))
    .filter((frame) => frame.type === 'response' && !frame.success)
    .map((frame) => Buffer.from(frame.data).toString())
}

describe('requests and replies', () => {
  it('sends strings and bytes, and answers both directions over one connection', async () => {
    const [client, server] = pair(
      {
        handlers: {
          echo: (request) => request.data,
          ask: async (_request, ctx) => `asked ${(await ctx.connection.request('name')).text()}`,
        },
      },
      { handlers: { name: () => 'client' } },
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

  it('gives a handler the request (route, id, data, text, flag) and the context (remote, signal, connection)', async () => {
    const seen = deferred<[KarpRequest, KarpContext]>()
    const [client, server] = pair({ handlers: { look: (request, ctx) => seen.resolve([request, ctx]) } })
    await client.notify('LOOK', new Uint8Array([0x68, 0xff]))
    const [request, ctx] = await seen.promise
    expect(request).toMatchObject({ route: 'look', wantsReply: false, text: 'h\uFFFD' })
    expect(request.id).toMatch(/^[0-9]{16}$/)
    expect(request.data).toEqual(Buffer.from([0x68, 0xff]))
    expect(ctx.request).toBe(request)
    expect(ctx.connection).toBe(server)
    expect(ctx.remote).toEqual({ address: '', port: 0 })
    expect(ctx.signal.aborted).toBe(false)
    await client.close()
  })

  it('sends the result types the spec allows, and a failure for any other', async () => {
    const handlerErrors: unknown[] = []
    const [client, server] = pair({
      handlers: {
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

  it("sends a public error's message, `internal error` for any other throw, never a stack, and reports each in full", async () => {
    const reported: [unknown, KarpContext][] = []
    const [a, b] = duplexPair()
    const secret = new Error("ENOENT: no such file or directory, open '/srv/secret/db-password.txt'")
    const server = connectionOn(
      b,
      {
        handlers: {
          public: () => {
            throw publicError('not found')
          },
          secret: () => {
            throw secret
          },
          string: () => {
            // eslint-disable-next-line @typescript-eslint/only-throw-error
            throw 'plain string'
          },
          bare: async () => {
            await Promise.resolve()
            throw Object.create(null) as Error
          },
          // An object that says it is public, but has no message to send.
          nomessage: () => {
            // eslint-disable-next-line @typescript-eslint/only-throw-error
            throw { expose: true }
          },
        },
      },
      undefined,
      'server',
    )
    server.on('handlerError', (err, ctx) => reported.push([err, ctx]))
    const bytes: Buffer[] = []
    a.on('data', (chunk: Buffer) => bytes.push(chunk))
    const client = connectionOn(a)
    await expect(client.request('public')).rejects.toMatchObject({ code: 'ERR_KARP_REMOTE', message: 'not found' })
    for (const route of ['secret', 'string', 'bare', 'nomessage']) {
      await expect(client.request(route)).rejects.toMatchObject({ code: 'ERR_KARP_REMOTE', message: 'internal error' })
    }
    expect(reported.map(([, ctx]) => ctx.request.route)).toEqual(['public', 'secret', 'string', 'bare', 'nomessage'])
    expect(reported[1]?.[0]).toBe(secret)
    expect(failureTexts(bytes)).toEqual(['not found', 'internal error', 'internal error', 'internal error', 'internal error'])
    await client.close()
  })

  it('sends the stack of any error with exposeErrors, for development', async () => {
    const [client] = pair({
      exposeErrors: true,
      handlers: {
        secret: () => {
          throw new Error('the details')
        },
        string: () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw 'plain string'
        },
      },
    })
    const err = (await client.request('secret').catch((e: unknown) => e)) as Error
    expect(err.message).toMatch(/^Error: the details\n\s+at /)
    await expect(client.request('string')).rejects.toMatchObject({ message: 'plain string' })
    expect(() => createServer({ exposeErrors: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    await client.close()
  })

  it('rejects a failure reply with RemoteError carrying the id and the raw data', async () => {
    const [client] = pair({
      handlers: {
        fail: () => {
          throw publicError('nö')
        },
      },
    })
    const err = await client.request('fail').catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'RemoteError', code: 'ERR_KARP_REMOTE', message: 'nö', data: Buffer.from('nö') })
    expect((err as { id: string }).id).toMatch(/^[0-9]{16}$/)
    await client.close()
  })

  it('prefers a connection handler over a server handler, and finds routes case-insensitively', async () => {
    const server = createServer({ handlers: { who: () => 'server', Mixed_Case: () => 'mixed' } })
    const { port } = await server.listen({ port: 0 })
    server.on('connection', (connection) => {
      if (server.connections.size === 2) connection.handle('WHO', () => 'connection')
    })
    const first = await connect({ port })
    const second = await connect({ port })
    expect((await first.request('who')).text()).toBe('server')
    expect((await second.request('who')).text()).toBe('connection')
    expect((await second.request('mixed_case')).text()).toBe('mixed')
    server.handle('later', () => 'added after connecting')
    expect((await first.request('later')).text()).toBe('added after connecting')
    await Promise.all([first.close(), second.close()])
    await server.close()
  })

  it('serves handlers given to connect() to the server', async () => {
    const server = createServer()
    const { port } = await server.listen({ port: 0 })
    const client = await connect({ port, handlers: { hello: (request) => `hi ${request.text}` } })
    const [connection] = [...server.connections]
    expect((await (connection ?? expect.unreachable()).request('hello', 'server')).text()).toBe('hi server')
    await client.close()
    await server.close()
  })

  it('refuses invalid route names when registering and sending', async () => {
    expect(() => createServer({ handlers: { v2: () => '' } })).toThrow(expect.objectContaining({ code: 'ERR_KARP_INVALID_ROUTE', route: 'v2' }))
    const [client, server] = pair()
    expect(() => server.handle('get-user', () => '')).toThrow(expect.objectContaining({ code: 'ERR_KARP_INVALID_ROUTE' }))
    expect(() => server.handle('fine', 'nope' as unknown as () => string)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => createServer().handle('fine', 'nope' as unknown as () => string)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    await expect(client.request('v2')).rejects.toMatchObject({ code: 'ERR_KARP_INVALID_ROUTE' })
    await expect(client.notify('')).rejects.toMatchObject({ code: 'ERR_KARP_INVALID_ROUTE' })
    await client.close()
  })

  it('answers an unknown route with the route in quotes, as the original does', async () => {
    const [client] = pair()
    await expect(client.request('NoSuch')).rejects.toMatchObject({ code: 'ERR_KARP_REMOTE', message: "'nosuch'" })
    await client.close()
  })

  it('drops a reply for an unknown id without a report', async () => {
    const [a, b] = duplexPair()
    const client = connectionOn(a)
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
    const client = connectionOn(a)
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

  it('answers every line of a chunk, and the lines after a malformed one', async () => {
    const [raw, end] = duplexPair()
    connectionOn(end, { handlers: { echo: (request) => request.data } }, undefined, 'server')
    const replies: Buffer[] = []
    const three = deferred()
    raw.on('data', (chunk: Buffer) => {
      replies.push(chunk)
      if (Buffer.concat(replies).toString().split('\n').length > 3) three.resolve()
    })
    const frame = (id: string, data: string): Buffer => Buffer.from(encodeRequest({ route: 'echo', id, data, wantsReply: true }))
    raw.write(Buffer.concat([frame('0000000000000001', 'a'), Buffer.from('garbage\n\r\n\n'), frame('0000000000000002', 'b'), frame('0000000000000003', 'c')]))
    await three.promise
    expect(Buffer.concat(replies).toString().split('\n').filter(Boolean).map((line) => decodeFrame(Buffer.from(line)).id)).toEqual([
      '0000000000000001',
      '0000000000000002',
      '0000000000000003',
    ])
    raw.destroy()
  })
})

describe('timeouts and aborts', () => {
  it('rejects with KarpTimeoutError naming the request after `timeout`, per connection or per call, and forgets the id', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const [a, b] = duplexPair()
    const client = connectionOn(a, { timeout: 500 })
    const sent: Buffer[] = []
    b.on('data', (chunk: Buffer) => sent.push(chunk))
    const errors: KarpError[] = []
    client.on('protocolError', (err) => errors.push(err))
    const first = client.request('slow')
    const second = client.request('Slow', '', { timeout: 2000 })
    const settled = vi.fn()
    first.then(settled, settled)
    second.then(settled, settled)
    await vi.advanceTimersByTimeAsync(499)
    expect(settled).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    const err = await first.catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'TimeoutError', code: 'ERR_KARP_TIMEOUT', message: "request 'slow' timed out after 500 ms", timeout: 500 })
    await vi.advanceTimersByTimeAsync(1499)
    expect(settled).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(1)
    await expect(second).rejects.toMatchObject({ name: 'TimeoutError', code: 'ERR_KARP_TIMEOUT', message: "request 'slow' timed out after 2000 ms" })
    // The late reply finds no pending entry and is dropped quietly.
    const { id } = decodeFrame(sent[0] ?? expect.unreachable())
    b.write(encodeResponse({ id, success: true, data: 'late' }))
    b.end()
    await client.closed
    expect(errors).toEqual([])
  })

  it('honours a timeout of 2^31 + 5 ms exactly, past what one Node timer waits', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const [a, b] = duplexPair()
    b.resume()
    b.on('error', () => {})
    const client = connectionOn(a)
    const timeout = 2 ** 31 + 5
    const settled = vi.fn()
    const pending = client.request('slow', '', { timeout })
    pending.then(settled, settled)
    const notified = client.notify('note', '', { timeout })
    await vi.advanceTimersByTimeAsync(timeout - 1)
    expect(settled).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await expect(pending).rejects.toMatchObject({ code: 'ERR_KARP_TIMEOUT', timeout })
    await notified
    await client.close({ signal: AbortSignal.abort() })
  })

  it('takes Infinity as no deadline, and 0 as one that has already passed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const [a, b] = duplexPair()
    const sent: Buffer[] = []
    b.on('data', (chunk: Buffer) => sent.push(chunk))
    b.on('error', () => {})
    const client = connectionOn(a, { timeout: Number.POSITIVE_INFINITY })
    const pending = client.request('slow')
    await vi.advanceTimersByTimeAsync(Number.MAX_SAFE_INTEGER)
    await expect(client.request('x', '', { timeout: 0 })).rejects.toMatchObject({ code: 'ERR_KARP_TIMEOUT', timeout: 0 })
    await expect(client.notify('x', '', { timeout: 0 })).rejects.toMatchObject({ code: 'ERR_KARP_TIMEOUT', message: "notify 'x' timed out after 0 ms" })
    const { id } = decodeFrame(sent[0] ?? expect.unreachable())
    b.write(encodeResponse({ id, success: true, data: 'at last' }))
    expect((await pending).text()).toBe('at last')
    // Only the request that had no deadline went out.
    expect(Buffer.concat(sent).toString().split('\n').filter(Boolean)).toHaveLength(1)
    await client.close({ signal: AbortSignal.abort() })
  })

  it('times out a notify still waiting for room to write', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    // Nobody reads the other end: the first large write fills the pair's buffer.
    const [a, b] = duplexPair({ highWaterMark: 1024 })
    b.on('error', () => {})
    const client = connectionOn(a)
    const settled = vi.fn()
    const waiting = client.notify('bulk', 'x'.repeat(4096), { timeout: 100 })
    waiting.then(settled, settled)
    await vi.advanceTimersByTimeAsync(99)
    expect(settled).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_KARP_TIMEOUT', message: "notify 'bulk' timed out after 100 ms" })
    await client.close({ signal: AbortSignal.abort() })
  })

  it('times out a shorter request made after a longer one at its own deadline, and an answered one never', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const [a, b] = duplexPair()
    const client = connectionOn(a)
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
  })

  it('rejects with signal.reason on abort, at once when already aborted', async () => {
    const [a, b] = duplexPair()
    const client = connectionOn(a)
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

  it('refuses a timeout that is not a whole number of milliseconds from 0, or Infinity', async () => {
    const [client] = pair()
    for (const timeout of [-1, 0.5, Number.NaN, 2 ** 53]) {
      await expect(client.request('x', '', { timeout })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
      await expect(client.notify('x', '', { timeout })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
      expect(() => createServer({ timeout })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    }
    expect(() => createServer({ timeout: 2 ** 31 })).not.toThrow()
    await client.close()
  })
})

describe('idleTimeout', () => {
  it('is off by default', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const [client, server] = pair()
    const closed = vi.fn()
    server.on('close', closed)
    await vi.advanceTimersByTimeAsync(10 * 24 * 3_600_000)
    expect(closed).not.toHaveBeenCalled()
    await client.close()
  })

  it('closes a connection from which nothing arrives, with nothing in flight, for idleTimeout ms', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const [a, b] = duplexPair()
    const server = connectionOn(b, { limits: { idleTimeout: 1000 }, handlers: { echo: (request) => request.data } }, undefined, 'server')
    const errors: KarpError[] = []
    server.on('protocolError', (err) => errors.push(err))
    const client = connectionOn(a)
    await vi.advanceTimersByTimeAsync(600)
    // A request is traffic: the clock starts again from its reply.
    expect((await client.request('echo', 'x')).text()).toBe('x')
    await vi.advanceTimersByTimeAsync(999)
    expect(errors).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(errors).toEqual([expect.objectContaining({ code: 'ERR_KARP_IDLE_TIMEOUT', timeout: 1000 })])
    await server.closed
    await client.closed
  })

  it('does not count the time a handler runs, nor a request of its own awaiting the reply', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const release = deferred<string>()
    const started = deferred()
    const [a, b] = duplexPair()
    const server = connectionOn(
      b,
      {
        limits: { idleTimeout: 1000 },
        handlers: {
          slow: () => {
            started.resolve()
            return release.promise
          },
        },
      },
      undefined,
      'server',
    )
    const errors: KarpError[] = []
    server.on('protocolError', (err) => errors.push(err))
    const client = connectionOn(a, { handlers: { ask: () => new Promise<string>(() => {}) } })
    const slow = client.request('slow', '', { timeout: Number.POSITIVE_INFINITY })
    await started.promise
    await vi.advanceTimersByTimeAsync(5000)
    release.resolve('done')
    expect((await slow).text()).toBe('done')
    const asking = server.request('ask', '', { timeout: Number.POSITIVE_INFINITY }).catch((err: unknown) => err)
    await vi.advanceTimersByTimeAsync(5000)
    expect(errors).toEqual([])
    await client.close({ signal: AbortSignal.abort() })
    expect(await asking).toMatchObject({ code: 'ERR_KARP_CLOSED' })
  })

  it('refuses a negative or fractional idleTimeout', () => {
    for (const idleTimeout of [-1, 1.5]) {
      expect(() => createServer({ limits: { idleTimeout } })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    }
  })
})

describe('close', () => {
  it('waits for running handlers and pending requests, answers newcomers with closing, then ends', async () => {
    const release = deferred<string>()
    const started = deferred()
    const [client, server] = pair({
      handlers: {
        slow: () => {
          started.resolve()
          return release.promise
        },
        echo: (request) => request.data,
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
      handlers: {
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
    const client = connectionOn(a)
    const release = deferred<string>()
    const server = connectionOn(b, { handlers: { slow: () => release.promise } }, undefined, 'server')
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
      handlers: {
        hang: (_request, ctx) => {
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
    const [client] = pair({ handlers: { keep: (_request, ctx) => (seen.resolve(ctx), new Promise(() => {})) } })
    void client.request('keep').catch(() => {})
    const ctx = await seen.promise
    await client.close({ signal: AbortSignal.abort() })
    await ctx.connection.closed
    expect(ctx.signal.aborted).toBe(true)
  })

  it("resolves closed even when a 'close' listener throws, whose error is not swallowed", async () => {
    const [client, server] = pair()
    const bug = new Error('a bug in a close listener')
    server.on('close', () => {
      throw bug
    })
    const escaped = await unhandledRejection(async () => {
      await client.close()
      await server.closed
    })
    expect(escaped).toBe(bug)
  })

  it('closes on a fault even when a protocolError listener throws', async () => {
    const [a, b] = duplexPair()
    // The raw end sees the reset of the destroyed one.
    a.on('error', () => {})
    const server = connectionOn(b, { limits: { maxFrameBytes: 64 } }, undefined, 'server')
    const bug = new Error('a bug in a protocolError listener')
    server.on('protocolError', () => {
      throw bug
    })
    const escaped = await unhandledRejection(async () => {
      a.write('x'.repeat(100))
      await server.closed
    })
    expect(escaped).toBe(bug)
  })

  it('supports Symbol.asyncDispose', async () => {
    const [client, server] = pair()
    await client[Symbol.asyncDispose]()
    await server.closed
    await expect(client.request('x')).rejects.toMatchObject({ code: 'ERR_KARP_CLOSED' })
  })
})
