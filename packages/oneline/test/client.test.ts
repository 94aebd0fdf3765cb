import { once } from 'node:events'
import net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import type { OnelineClient } from '../src/client.ts'
import { DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_QUEUED_LINES, DEFAULT_TIMEOUT } from '../src/constants.ts'
import { demoHandler } from '../src/demo.ts'
import { ErrorCode } from '../src/errors.ts'
import { RawClient, Resources, turn, vectorHandler, wire } from './helpers.ts'

const res = new Resources()
afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  await res.close()
})

/** A scripted stand-in for the original server: the test reads and writes its side by hand. */
async function fakeServer(): Promise<{ port: number; accepted: () => Promise<RawClient>; close: () => Promise<void> }> {
  const sockets: net.Socket[] = []
  const waiting: ((peer: RawClient) => void)[] = []
  const ready: RawClient[] = []
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket)
    socket.on('error', () => {})
    const peer = new RawClient(socket)
    const take = waiting.shift()
    if (take === undefined) ready.push(peer)
    else take(peer)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
  fakes.push(close)
  return {
    port,
    accepted: () => {
      const peer = ready.shift()
      return peer === undefined ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve(peer)
    },
    close,
  }
}
const fakes: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((close) => close()))
})

/** Connects to a fake server and plays the original's side of the handshake. */
async function handshake(options: Parameters<typeof connect>[0] = {}) {
  const fake = await fakeServer()
  const connecting = connect({ port: fake.port, ...options })
  const peer = await fake.accepted()
  expect(await peer.bytes(5)).toEqual(wire('origclient_connect_handshake_request'))
  peer.write(wire('ping_response'))
  return { client: await connecting, peer, fake }
}

describe('wire bytes of the original client', () => {
  it('connects with ping and resolves on pong', async () => {
    const { client } = await handshake()
    await client.close({ timeout: 50 }).catch(() => undefined)
  })

  it('sends cmd01 and reads ack', async () => {
    const { client, peer } = await handshake()
    await client.send('cmd01')
    expect(await peer.bytes(6)).toEqual(wire('origclient_send_cmd01_request'))
    const reply = client.request('cmd01')
    expect(await peer.bytes(6)).toEqual(wire('origclient_send_cmd01_request'))
    peer.write(wire('origclient_send_cmd01_response'))
    expect(await reply).toEqual(['ack'])
  })

  it('shuts down with the shutdown line and waits for EOF', async () => {
    const { client, peer } = await handshake()
    const shutdown = client.shutdown()
    expect(await peer.bytes(9)).toEqual(wire('origclient_shutdown_request'))
    peer.socket.end(wire('origclient_shutdown_response'))
    await shutdown
    await client.closed
    expect(await peer.rest()).toHaveLength(0)
  })

  it('disconnects with the disconnect line and waits for EOF', async () => {
    const { client, peer } = await handshake()
    const closing = client.close()
    expect(await peer.bytes(11)).toEqual(wire('disconnect_request'))
    peer.socket.end(wire('disconnect_response'))
    await closing
    expect(await peer.rest()).toHaveLength(0)
  })
})

describe('connect', () => {
  it('fails with ERR_ONELINE_BAD_PONG on another line, and closes the socket', async () => {
    const fake = await fakeServer()
    const connecting = connect({ port: fake.port })
    const peer = await fake.accepted()
    await peer.bytes(5)
    peer.write('PONG\n')
    await expect(connecting).rejects.toMatchObject({ code: ErrorCode.BAD_PONG, name: 'OnelineBadPongError', line: 'PONG' })
    expect(await peer.rest()).toHaveLength(0)
  })

  it('fails with ERR_ONELINE_CLOSED on EOF before pong', async () => {
    const fake = await fakeServer()
    const connecting = connect({ port: fake.port })
    const peer = await fake.accepted()
    await peer.bytes(5)
    peer.socket.end()
    await expect(connecting).rejects.toMatchObject({ code: ErrorCode.CLOSED, name: 'OnelineClosedError' })
  })

  it('fails with ERR_ONELINE_CONNECT when nothing listens', async () => {
    const fake = await fakeServer()
    await fake.close()
    const err: unknown = await connect({ port: fake.port }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: ErrorCode.CONNECT, name: 'OnelineConnectError', cause: expect.objectContaining({ code: 'ECONNREFUSED' }) })
  })

  it('times out with a TimeoutError and closes the socket', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const fake = await fakeServer()
    const connecting = connect({ port: fake.port, timeout: 50 }).catch((err: unknown) => err)
    const peer = await fake.accepted()
    await peer.bytes(5)
    await vi.advanceTimersByTimeAsync(50)
    expect(await connecting).toMatchObject({ name: 'TimeoutError' })
    expect(await peer.rest()).toHaveLength(0)
  })

  it(`waits ${DEFAULT_TIMEOUT} ms by default, for connect and for later calls`, async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const fake = await fakeServer()
    const connecting = connect({ port: fake.port }).catch((err: unknown) => err)
    const peer = await fake.accepted()
    await peer.bytes(5)
    await vi.advanceTimersByTimeAsync(DEFAULT_TIMEOUT - 1)
    peer.write(wire('ping_response'))
    const client = (await connecting) as OnelineClient
    expect(client).toHaveProperty('request')

    const reply = client.request('x').catch((err: unknown) => err)
    await peer.bytes(2)
    await vi.advanceTimersByTimeAsync(DEFAULT_TIMEOUT - 1)
    const settled = await Promise.race([reply, turn().then(() => 'pending')])
    expect(settled).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    expect(await reply).toMatchObject({ name: 'TimeoutError' })
  })

  it(`fails connect after the default ${DEFAULT_TIMEOUT} ms without pong`, async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const fake = await fakeServer()
    const connecting = connect({ port: fake.port }).catch((err: unknown) => err)
    const peer = await fake.accepted()
    await peer.bytes(5)
    await vi.advanceTimersByTimeAsync(DEFAULT_TIMEOUT)
    expect(await connecting).toMatchObject({ name: 'TimeoutError' })
    expect(await peer.rest()).toHaveLength(0)
  })

  it('rejects with the reason when its signal aborts', async () => {
    const fake = await fakeServer()
    const controller = new AbortController()
    const connecting = connect({ port: fake.port, signal: controller.signal })
    await fake.accepted()
    const reason = new Error('changed my mind')
    controller.abort(reason)
    await expect(connecting).rejects.toBe(reason)
  })

  it('waits its turn behind the active client of a oneline server', async () => {
    const { port } = await res.server({ handler: demoHandler })
    const first = await connect({ port })
    const second = connect({ port })
    expect(await first.request('echo first')).toEqual(['first'])
    await first.close()
    const client = await second
    expect(await client.request('echo second')).toEqual(['second'])
    await client.close()
  })

  it('rejects bad options with ERR_PROTO_USAGE before connecting', async () => {
    await expect(connect({ timeout: -1 })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect({ connectTimeout: 1.5 })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect({ limits: { maxQueuedLines: -1 } })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect({ limits: { maxLineBytes: 1.5 } })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it.each([
    [{ timout: 10 }, "unknown option 'timout' for connect() (did you mean 'timeout'?)"],
    [{ maxLineBytes: 10 }, "unknown option 'maxLineBytes' for connect() (did you mean 'limits.maxLineBytes'?)"],
    [{ limits: { maxQueueLines: 10 } }, "unknown option 'limits.maxQueueLines' for connect() (did you mean 'limits.maxQueuedLines'?)"],
  ])('refuses the misspelt option %o, naming the closest', async (options, message) => {
    await expect(connect(options as never)).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE', message })
  })
})

describe('requests', () => {
  it('resolves with the requested number of lines, in order, pipelined', async () => {
    const { port } = await res.server({ handler: demoHandler })
    const client = await connect({ port })
    const replies = await Promise.all([
      client.request('count 3', { lines: 3 }),
      client.request('echo a'),
      client.request('count 0', { lines: 0 }),
      client.request('echo b'),
    ])
    expect(replies).toEqual([['1', '2', '3'], ['a'], [], ['b']])
    await client.ping()
    await client.close()
  })

  it('keeps the place of a timed-out request, so later ones stay in step', async () => {
    let release = (): void => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    const { port } = await res.server({
      handler: async (command) => {
        if (command === 'slow') {
          await released
          return ['late 1', 'late 2']
        }
        return command
      },
    })
    const client = await connect({ port })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const slow = client.request('slow', { lines: 2, timeout: 1000 }).catch((err: unknown) => err)
    await vi.advanceTimersByTimeAsync(1000)
    expect(await slow).toMatchObject({ name: 'TimeoutError' })
    vi.useRealTimers()
    const next = client.request('next')
    release()
    expect(await next).toEqual(['next'])
    await client.close()
  })

  it('times each request out at its own deadline, a short one behind a long one included', async () => {
    // Every timer is fake from the start, the one armed for the connect's ping included.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const { client, peer } = await handshake()
    const settled: string[] = []
    const track = (name: string, reply: Promise<string[]>): Promise<unknown> =>
      reply.then(
        (lines) => settled.push(`${name}: ${lines.join()}`),
        (err: unknown) => settled.push(`${name}: ${(err as Error).name}`),
      )
    const answered = track('answered', client.request('a', { timeout: 100 }))
    const long = track('long', client.request('b', { timeout: 1000 }))
    const short = track('short', client.request('c', { timeout: 300 }))
    expect((await peer.bytes(6)).toString()).toBe('a\nb\nc\n')
    peer.write(Buffer.from('reply a\n'))
    await answered
    // The first request's deadline passes after its answer: nothing more happens then.
    await vi.advanceTimersByTimeAsync(299)
    expect(settled).toEqual(['answered: reply a'])
    await vi.advanceTimersByTimeAsync(1)
    await short
    expect(settled).toEqual(['answered: reply a', 'short: TimeoutError'])
    await vi.advanceTimersByTimeAsync(699)
    expect(settled).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1)
    await long
    expect(settled).toEqual(['answered: reply a', 'short: TimeoutError', 'long: TimeoutError'])
  })

  it('keeps the timeout of a later, shorter request when it is made while the timer waits for a longer one', async () => {
    // Every timer is fake from the start, the one armed for the connect's ping included.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const { client, peer } = await handshake()
    const long = client.request('b', { timeout: 1000 }).catch((err: unknown) => err)
    await vi.advanceTimersByTimeAsync(500)
    const short = client.request('c', { timeout: 100 }).catch((err: unknown) => err)
    await peer.bytes(4)
    await vi.advanceTimersByTimeAsync(100)
    expect(await short).toMatchObject({ name: 'TimeoutError' })
    const pending = await Promise.race([long, turn().then(() => 'pending')])
    expect(pending).toBe('pending')
    await vi.advanceTimersByTimeAsync(400)
    expect(await long).toMatchObject({ name: 'TimeoutError' })
  })

  it('waits out a timeout of 2^31 + 5 ms, longer than a Node timer can take, and not a millisecond less', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const { client, peer } = await handshake()
    const reply = client.request('x', { timeout: 2 ** 31 + 5 }).catch((err: unknown) => err)
    await peer.bytes(2)
    await vi.advanceTimersByTimeAsync(2 ** 31 + 4)
    const settled = await Promise.race([reply, turn().then(() => 'pending')])
    expect(settled).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    expect(await reply).toMatchObject({ name: 'TimeoutError', code: ErrorCode.TIMEOUT, timeout: 2 ** 31 + 5 })
  })

  it('times out with ERR_ONELINE_TIMEOUT, name TimeoutError, saying which request timed out', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const { client, peer, fake } = await handshake()
    const reply = client.request('echo slow', { timeout: 20 }).catch((err: unknown) => err)
    await peer.bytes(10)
    await vi.advanceTimersByTimeAsync(20)
    expect(await reply).toMatchObject({
      name: 'TimeoutError',
      code: ErrorCode.TIMEOUT,
      message: `request 'echo slow' to 127.0.0.1:${fake.port} timed out after 20 ms`,
    })
    await expect(client.request('x', { timeout: 0 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT, timeout: 0 })
    await expect(client.ping({ timeout: 0 })).rejects.toMatchObject({ message: `ping to 127.0.0.1:${fake.port} timed out after 0 ms` })
    await expect(client.send('x', { timeout: 0 })).rejects.toMatchObject({ message: `send 'x' to 127.0.0.1:${fake.port} timed out after 0 ms` })
    const long = `echo ${'y'.repeat(100)}`
    await expect(client.request(long, { timeout: 0 })).rejects.toMatchObject({ message: `request '${long.slice(0, 57)}...' to 127.0.0.1:${fake.port} timed out after 0 ms` })
  })

  it('refuses a misspelt call option, naming the closest', async () => {
    const { client } = await handshake()
    await expect(client.request('x', { line: 2 } as never)).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE', message: "unknown option 'line' for request() (did you mean 'lines'?)" })
    await expect(client.send('x', { timeot: 2 } as never)).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(client.ping({ signl: undefined } as never)).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('rejects an aborted request with the reason, and keeps its place', async () => {
    const { port } = await res.server({ handler: demoHandler })
    const client = await connect({ port })
    const controller = new AbortController()
    const aborted = client.request('echo dropped', { signal: controller.signal })
    const reason = new Error('stop')
    controller.abort(reason)
    await expect(aborted).rejects.toBe(reason)
    expect(await client.request('echo kept')).toEqual(['kept'])
    await expect(client.request('echo x', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    await client.close()
  })

  it('refuses a command with LF before writing anything', async () => {
    const { client, peer } = await handshake()
    await expect(client.request('a\nb')).rejects.toMatchObject({ code: ErrorCode.INVALID_LINE })
    await expect(client.send('a\nb')).rejects.toMatchObject({ code: ErrorCode.INVALID_LINE })
    await client.send('after')
    expect((await peer.bytes(6)).toString()).toBe('after\n')
  })

  it('fails ping on anything but pong', async () => {
    const { client, peer } = await handshake()
    const ping = client.ping()
    await peer.bytes(5)
    peer.write('pong?\n')
    await expect(ping).rejects.toMatchObject({ code: ErrorCode.BAD_PONG, line: 'pong?' })
  })

  it('keeps response lines exact, and strips one CR only with stripCR', async () => {
    const { client, peer } = await handshake()
    const reply = client.request('x', { lines: 3 })
    await peer.bytes(2)
    peer.write('  spaced  \na\r\n\n')
    expect(await reply).toEqual(['  spaced  ', 'a\r', ''])

    const stripping = await handshake({ stripCR: true })
    const stripped = stripping.client.request('x', { lines: 2 })
    await stripping.peer.bytes(2)
    stripping.peer.write('a\r\nb\r\r\n')
    expect(await stripped).toEqual(['a', 'b\r'])
  })

  it('decodes invalid UTF-8 in a response with replacement characters', async () => {
    const { client, peer } = await handshake()
    const reply = client.request('x')
    await peer.bytes(2)
    peer.write(Buffer.from('6162ff63640a', 'hex'))
    expect(await reply).toEqual(['ab\uFFFDcd'])
  })

  it('rejects pending requests with ERR_ONELINE_CLOSED when the server closes', async () => {
    const { client, peer } = await handshake()
    const reply = client.request('x', { lines: 2 })
    await peer.bytes(2)
    peer.socket.end('only one\n')
    await expect(reply).rejects.toMatchObject({ code: ErrorCode.CLOSED })
    await client.closed
    await expect(client.send('more')).rejects.toMatchObject({ code: ErrorCode.CLOSED })
    await expect(client.request('more')).rejects.toMatchObject({ code: ErrorCode.CLOSED })
  })

  it('rejects pending requests with ERR_ONELINE_CLOSED caused by a reset', async () => {
    const { client, peer } = await handshake()
    const reply = client.request('x')
    await peer.bytes(2)
    peer.socket.resetAndDestroy()
    const err: unknown = await reply.catch((e: unknown) => e)
    expect(err).toMatchObject({ code: ErrorCode.CLOSED, cause: expect.objectContaining({ code: 'ECONNRESET' }) })
  })
})

describe('client limits', () => {
  it(`takes a response line of ${DEFAULT_MAX_LINE_BYTES} bytes by default and closes on one more`, async () => {
    const { client, peer } = await handshake()
    const ok = client.request('x')
    await peer.bytes(2)
    peer.write(`${'a'.repeat(DEFAULT_MAX_LINE_BYTES)}\n`)
    expect((await ok)[0]).toHaveLength(DEFAULT_MAX_LINE_BYTES)
    const tooLong = client.request('x')
    await peer.bytes(2)
    peer.write(`${'a'.repeat(DEFAULT_MAX_LINE_BYTES + 1)}\n`)
    const err: unknown = await tooLong.catch((e: unknown) => e)
    expect(err).toMatchObject({
      code: ErrorCode.CLOSED,
      cause: expect.objectContaining({ code: ErrorCode.LINE_TOO_LONG, limit: DEFAULT_MAX_LINE_BYTES }),
    })
    expect(await peer.rest()).toHaveLength(0)
  })

  it('rejects a write past maxWriteBufferBytes without losing step', async () => {
    const { client, peer } = await handshake({ limits: { maxWriteBufferBytes: 16 } })
    await expect(client.send('x'.repeat(16))).rejects.toMatchObject({ code: 'ERR_PROTO_WRITE_BUFFER_FULL' })
    await expect(client.request('y'.repeat(16))).rejects.toMatchObject({ code: 'ERR_PROTO_WRITE_BUFFER_FULL' })
    const reply = client.request('z')
    expect((await peer.bytes(2)).toString()).toBe('z\n')
    peer.write('for z\n')
    expect(await reply).toEqual(['for z'])
  })

  it('refuses a line past the default maxWriteBufferBytes of 64 MiB', async () => {
    const { client } = await handshake()
    await expect(client.send('x'.repeat(64 * 1024 * 1024))).rejects.toMatchObject({ code: 'ERR_PROTO_WRITE_BUFFER_FULL', limit: 67_108_864 })
  })
})

describe('iteration', () => {
  it('yields lines no request claims, and ends when the server closes', async () => {
    const { port } = await res.server({ handler: demoHandler })
    const client = await connect({ port })
    await client.send('count 3')
    await client.send('disconnect')
    const lines: string[] = []
    for await (const line of client) lines.push(line)
    expect(lines).toEqual(['1', '2', '3'])
    await client.closed
  })

  it('keeps the connection when a loop breaks early', async () => {
    const { port } = await res.server({ handler: demoHandler })
    const client = await connect({ port })
    await client.send('count 2')
    const seen: string[] = []
    for await (const line of client) {
      seen.push(line)
      break
    }
    for await (const line of client) {
      seen.push(line)
      break
    }
    expect(seen).toEqual(['1', '2'])
    expect(await client.request('echo still here')).toEqual(['still here'])
    await client.close()
  })

  it('throws ERR_ONELINE_CLOSED from the iterator when the connection fails', async () => {
    const { client, peer } = await handshake({ limits: { maxLineBytes: 4 } })
    peer.write('ok\ntoo long\n')
    const lines: string[] = []
    const err: unknown = await (async () => {
      for await (const line of client) lines.push(line)
    })().catch((e: unknown) => e)
    expect(lines).toEqual(['ok'])
    expect(err).toMatchObject({ code: ErrorCode.CLOSED, cause: expect.objectContaining({ code: ErrorCode.LINE_TOO_LONG, limit: 4 }) })
  })

  it('pauses reading past maxQueuedLines, then delivers every line in order', async () => {
    const connectSpy = vi.spyOn(net, 'connect')
    const { client, peer } = await handshake({ limits: { maxQueuedLines: 4 } })
    const socket = connectSpy.mock.results[0]?.value as net.Socket
    // 50 000 numbered lines of 20 bytes: 1 MB, far more than framing reads ahead.
    const lines = 50_000
    const line = (i: number): string => String(i).padStart(19, '0')
    const payload = Buffer.from(Array.from({ length: lines }, (_, i) => `${line(i)}\n`).join(''))
    peer.write(payload)
    for (let i = 0; i < 50; i++) await turn()
    expect(socket.bytesRead).toBeLessThan(256 * 1024)
    let received = 0
    let outOfOrder = 0
    for await (const text of client) {
      if (text !== line(received)) outOfOrder++
      if (++received === lines) break
    }
    expect(outOfOrder).toBe(0)
    expect(socket.bytesRead).toBe(5 + payload.length)
  })

  it(`holds ${DEFAULT_MAX_QUEUED_LINES} unclaimed lines by default, then lets requests through`, async () => {
    const connectSpy = vi.spyOn(net, 'connect')
    const { client, peer } = await handshake()
    const socket = connectSpy.mock.results[0]?.value as net.Socket
    peer.write('x\n'.repeat(2_000_000))
    for (let i = 0; i < 50; i++) await turn()
    // 1024 lines are 2 KiB; the rest is what framing reads ahead, far from the 4 MB sent.
    expect(socket.bytesRead).toBeLessThan(256 * 1024)
    // A request claims the next line at once, even while the iterator's queue is full.
    const reply = client.request('r')
    expect(await reply).toEqual(['x'])
  })

  it('sends disconnect on Symbol.asyncDispose, as `await using` does', async () => {
    const { port } = await res.server({ handler: vectorHandler })
    const client = await connect({ port })
    expect(await client.request('cmd01')).toEqual(['ack'])
    await client[Symbol.asyncDispose]()
    await client.closed
    await expect(client.ping()).rejects.toMatchObject({ code: ErrorCode.CLOSED })
  })
})

describe('close', () => {
  it('rejects with a TimeoutError when the server does not close, and still closes', async () => {
    const { client, peer } = await handshake()
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const closing = client.close().catch((err: unknown) => err)
    expect((await peer.bytes(11)).toString()).toBe('disconnect\n')
    await vi.advanceTimersByTimeAsync(DEFAULT_TIMEOUT)
    expect(await closing).toMatchObject({ name: 'TimeoutError' })
    expect(await peer.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    await client.closed
  })

  it('rejects send with the reason of its signal, or a TimeoutError', async () => {
    const { client } = await handshake()
    const reason = new Error('no')
    await expect(client.send('x', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    await expect(client.send('x', { timeout: -1 })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it.each([
    ['an aborted signal', { signal: AbortSignal.abort(new Error('interrupted')) }, { message: 'interrupted' }],
    ['a timeout of 0', { timeout: 0 }, { code: ErrorCode.TIMEOUT, message: expect.stringMatching(/^disconnect from 127\.0\.0\.1:\d+ timed out after 0 ms$/) }],
  ])('closes at once with %s, sending nothing and leaving nothing running', async (_name, opts, expected) => {
    const { client, peer } = await handshake()
    await expect(client.close(opts)).rejects.toMatchObject(expected)
    await client.closed
    // No disconnect line: the goodbye never started, so nothing of it can fail unobserved later.
    expect(await peer.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
  })

  it('resolves at once when the connection is already gone, and twice alike', async () => {
    const { client, peer } = await handshake()
    peer.socket.end()
    await client.closed
    await client.close()
    await client.disconnect()
  })
})
