import { once } from 'node:events'
import net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_QUEUE } from '../src/constants.ts'
import { demoHandler } from '../src/demo.ts'
import { ErrorCode } from '../src/errors.ts'
import type { PeerInfo } from '@proto/framing'
import { createServer } from '../src/server.ts'
import type { OnelineConnection, OnelineContext } from '../src/types.ts'
import { Resources, turn, vectorHandler, wire } from './helpers.ts'

const res = new Resources()
afterEach(async () => {
  vi.useRealTimers()
  await res.close()
})

/** A handler that records what it got, answering like the vectors' callback. */
function recording(): { calls: { command: string; ctx: OnelineContext }[]; handler: typeof vectorHandler } {
  const calls: { command: string; ctx: OnelineContext }[] = []
  return {
    calls,
    handler: (command, ctx) => {
      calls.push({ command, ctx })
      return vectorHandler(command, ctx)
    },
  }
}

/** A promise with its resolve, for handlers a test releases. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => {}
  const promise = new Promise<void>((resolve) => (open = resolve))
  return { promise, open }
}

describe('deliberate differences from the original', () => {
  it('keeps valid UTF-8 (the original dropped é and flagged it invalid)', async () => {
    const { calls, handler } = recording()
    const { port } = await res.server({ handler })
    const c = await res.socket(port)
    c.write(wire('utf8_multibyte_request'))
    const line = await c.line()
    expect(calls[0]?.command).toBe('héllo')
    expect(calls[0]?.ctx.invalid).toBe(false)
    expect(line).toBe('cb:"h\\u00e9llo":False\n')
    expect(Buffer.from(line)).not.toEqual(wire('utf8_multibyte_response'))
  })

  it('decodes C3 AD as í, where the original sent cb:"abcd":True', async () => {
    const { calls, handler } = recording()
    const { port } = await res.server({ handler })
    const c = await res.socket(port)
    c.write(Buffer.from('6162c3ad63640a', 'hex'))
    expect(Buffer.from(await c.line())).not.toEqual(wire('latin1_as_utf8_from_test_response'))
    expect(calls[0]?.command).toBe('abícd')
    expect(calls[0]?.ctx.invalid).toBe(false)
  })

  it('replaces invalid bytes with U+FFFD and flags the command invalid', async () => {
    const { calls, handler } = recording()
    const { port } = await res.server({ handler })
    const c = await res.socket(port)
    c.write(wire('non_utf8_byte_request'))
    expect(await c.line()).toBe('cb:"ab\\ufffdcd":True\n')
    expect(calls[0]?.command).toBe('ab\uFFFDcd')
    expect(calls[0]?.ctx.invalid).toBe(true)
    expect(calls[0]?.ctx.raw).toEqual(wire('non_utf8_byte_request').subarray(0, -1))
  })

  it('has the demo handler answer an invalid command with invalid', async () => {
    const { port } = await res.server({ handler: demoHandler })
    const c = await res.socket(port)
    c.write(wire('non_utf8_byte_request'))
    expect(await c.line()).toBe('invalid\n')
  })

  it('serves the next client at once after a FIN without disconnect', async () => {
    const { calls, handler } = recording()
    const { server, port } = await res.server({ handler })
    const c1 = await res.socket(port)
    c1.write(wire('ping_request'))
    await c1.bytes(5)
    const c2 = await res.socket(port)
    c2.write(wire('ping_request'))
    // A complete command before the FIN is answered; the unterminated one is dropped.
    c1.socket.end('cmd01\npartial')
    expect((await c1.rest()).toString()).toBe('ack\n')
    expect(wire('peer_fin_without_disconnect_response')).toHaveLength(0)
    expect(await c2.bytes(5)).toEqual(wire('ping_response'))
    expect(calls.map((call) => call.command)).toEqual(['cmd01'])
    expect(server.active?.port).toBe(c2.socket.localPort)
    const c3 = await res.socket(port)
    c2.write(wire('disconnect_request'))
    c3.write(wire('ping_request'))
    expect(await c3.bytes(5)).toEqual(wire('ping_response'))
  })

  it('serves the next client after a reset, and keeps listening', async () => {
    const { server, port } = await res.server()
    const errors: unknown[] = []
    server.on('clientError', (err) => errors.push(err))
    const c1 = await res.socket(port)
    c1.write(wire('ping_request'))
    await c1.bytes(5)
    const c2 = await res.socket(port)
    c2.write(wire('ping_request'))
    c1.socket.resetAndDestroy()
    expect(wire('peer_rst_request')).toHaveLength(0)
    expect(await c2.bytes(5)).toEqual(wire('ping_response'))
    for (const err of errors) expect(err).toMatchObject({ code: ErrorCode.CLOSED })
    c2.write(wire('disconnect_request'))
    await c2.rest()
    const c3 = await res.socket(port)
    c3.write(wire('ping_request'))
    expect(await c3.bytes(5)).toEqual(wire('ping_response'))
  })

  it('aborts ctx.signal when the client resets during a handler', async () => {
    const started = gate()
    let reason: unknown
    const { port } = await res.server({
      handler: async (_command, ctx) => {
        started.open()
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))
        reason = ctx.signal.reason
        return 'too late'
      },
    })
    const c1 = await res.socket(port)
    c1.write('wait\n')
    await started.promise
    const c2 = await res.socket(port)
    c2.write(wire('ping_request'))
    c1.socket.resetAndDestroy()
    expect(await c2.bytes(5)).toEqual(wire('ping_response'))
    expect(reason).toMatchObject({ code: ErrorCode.CLOSED })
  })
})

describe('options', () => {
  it('strips one CR with stripCR, so ping\\r is ping', async () => {
    const { calls, handler } = recording()
    const { port } = await res.server({ handler, stripCR: true })
    const c = await res.socket(port)
    c.write('ping\r\ncmd01\r\r\n')
    expect((await c.bytes(5)).toString()).toBe('pong\n')
    expect(await c.line()).toBe('cb:"cmd01\\r":False\n')
    expect(calls[0]?.ctx.raw).toEqual(Buffer.from('cmd01\r'))
  })

  it('passes shutdown to the handler when allowShutdown is false', async () => {
    const { calls, handler } = recording()
    const { server, port } = await res.server({ handler, allowShutdown: false })
    const c = await res.socket(port)
    c.write(wire('origclient_shutdown_request'))
    expect(await c.line()).toBe('cb:"shutdown":False\n')
    expect(calls[0]?.command).toBe('shutdown')
    c.write(wire('ping_request'))
    expect(await c.bytes(5)).toEqual(wire('ping_response'))
    expect(server.active).not.toBeNull()
  })

  it('gives non-built-in commands no lines without a handler', async () => {
    const { port } = await res.server({})
    const c = await res.socket(port)
    c.write('cmd01\nping\n')
    expect((await c.bytes(5)).toString()).toBe('pong\n')
  })

  it.each([
    [{ limits: { maxQueue: -1 } }],
    [{ limits: { maxLineBytes: 0 } }],
    [{ limits: { idleTimeout: 1.5 } }],
    [{ limits: { maxWriteBufferBytes: 0 } }],
    [{ limits: { maxConnections: 0 } }],
    [{ busy: 'wait' as 'queue' }],
  ])('rejects the bad option %o with ERR_PROTO_USAGE', (options) => {
    expect(() => createServer(options)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it.each([
    [{ maxLineBytes: 8 }, "unknown option 'maxLineBytes' for createServer() (did you mean 'limits.maxLineBytes'?)"],
    [{ handlers: vectorHandler }, "unknown option 'handlers' for createServer() (did you mean 'handler'?)"],
    [{ limits: { maxLineByte: 8 } }, "unknown option 'limits.maxLineByte' for createServer() (did you mean 'limits.maxLineBytes'?)"],
  ])('refuses the misspelt option %o, naming the closest', (options, message) => {
    expect(() => createServer(options as never)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE', message }))
  })

  it('takes its handler from handle(), for the clients already connected too', async () => {
    const { server, port } = await res.server({})
    const c = await res.socket(port)
    c.write(wire('ping_request'))
    expect(await c.bytes(5)).toEqual(wire('ping_response'))
    expect(server.handle((command) => `got ${command}`)).toBe(server)
    c.write('hello\n')
    expect(await c.line()).toBe('got hello\n')
    expect(() => server.handle('nope' as never)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })
})

describe('handlers', () => {
  it('writes ctx.send lines first, then the returned ones, and gives the peer as ctx.remote', async () => {
    let remote: unknown
    const { port } = await res.server({
      handler: async (command, ctx) => {
        remote = ctx.remote
        ctx.send('first')
        await turn()
        ctx.send('second')
        return [command, 'last']
      },
    })
    const c = await res.socket(port)
    c.write('go\n')
    expect((await c.bytes(21)).toString()).toBe('first\nsecond\ngo\nlast\n')
    expect(remote).toEqual({ address: '127.0.0.1', port: c.socket.localPort })
  })

  it('refuses ctx.send after the handler settled', async () => {
    let late: unknown
    const done = gate()
    const { port } = await res.server({
      handler: (_command, ctx) => {
        setImmediate(() => {
          try {
            ctx.send('late')
          } catch (err) {
            late = err
          }
          done.open()
        })
        return 'on time'
      },
    })
    const c = await res.socket(port)
    c.write('x\n')
    expect(await c.line()).toBe('on time\n')
    await done.promise
    expect(late).toMatchObject({ code: ErrorCode.UNPROMPTED, name: 'OnelineUnpromptedError' })
    c.write(wire('ping_request'))
    expect((await c.bytes(5)).toString()).toBe('pong\n')
  })

  it('refuses a ctx.send line with LF', async () => {
    let thrown: unknown
    const { port } = await res.server({
      handler: (_command, ctx) => {
        try {
          ctx.send('two\nlines')
        } catch (err) {
          thrown = err
        }
        return 'ok'
      },
    })
    const c = await res.socket(port)
    c.write('x\n')
    expect(await c.line()).toBe('ok\n')
    expect(thrown).toMatchObject({ code: ErrorCode.INVALID_LINE })
  })

  it('closes only the client whose handler threw, after the lines it sent, and serves the next', async () => {
    const failure = new Error('boom')
    const { server, port } = await res.server({
      handler: (command, ctx) => {
        if (command !== 'fail') return 'fine'
        ctx.send('partial')
        throw failure
      },
    })
    const reported = once(server, 'handlerError')
    const c1 = await res.socket(port)
    const c1Port = c1.socket.localPort
    const c2 = await res.socket(port)
    c2.write('after\n')
    c1.write('fail\nnever\n')
    expect((await c1.rest()).toString()).toBe('partial\n')
    const [err, ctx] = (await reported) as [unknown, OnelineContext]
    expect(err).toBe(failure)
    expect(ctx.remote.port).toBe(c1Port)
    expect(await c2.line()).toBe('fine\n')
  })

  it('treats a returned line with LF as a handler error', async () => {
    const { server, port } = await res.server({ handler: () => ['good', 'bad\nline'] })
    const reported = once(server, 'handlerError')
    const c = await res.socket(port)
    c.write('x\n')
    expect(await c.rest()).toHaveLength(0)
    const [err] = await reported
    expect(err).toMatchObject({ code: ErrorCode.INVALID_LINE })
  })
})

describe('limits and hostile input', () => {
  it('accepts a command of exactly maxLineBytes and closes on one byte more', async () => {
    const { calls, handler } = recording()
    const { server, port } = await res.server({ handler: (command, ctx) => void handler(command, ctx), limits: { maxLineBytes: 8 } })
    const c = await res.socket(port)
    const reported = once(server, 'clientError')
    c.write('12345678\nping\n123456789\n')
    expect((await c.bytes(5)).toString()).toBe('pong\n')
    expect(await c.rest()).toHaveLength(0)
    const [err, peer] = await reported
    expect(err).toMatchObject({ code: ErrorCode.LINE_TOO_LONG, name: 'OnelineLineTooLongError', limit: 8 })
    expect(peer).toMatchObject({ address: '127.0.0.1' })
    expect(calls.map((call) => call.command)).toEqual(['12345678'])
  })

  it(`takes a command of the default ${DEFAULT_MAX_LINE_BYTES} bytes, not one more`, async () => {
    const { server, port } = await res.server({ handler: (command) => String(command.length) })
    const c = await res.socket(port)
    c.write(`${'a'.repeat(DEFAULT_MAX_LINE_BYTES)}\n`)
    expect(await c.line()).toBe(`${DEFAULT_MAX_LINE_BYTES}\n`)
    const reported = once(server, 'clientError')
    c.write(`${'a'.repeat(DEFAULT_MAX_LINE_BYTES + 1)}\n`)
    const [err] = await reported
    expect(err).toMatchObject({ code: ErrorCode.LINE_TOO_LONG, limit: DEFAULT_MAX_LINE_BYTES })
  })

  it('closes a client sending 10 MiB without LF and serves the next', async () => {
    const { server, port } = await res.server()
    const reported = once(server, 'clientError')
    const c1 = await res.socket(port)
    const c2 = await res.socket(port)
    c2.write(wire('ping_request'))
    c1.write(Buffer.alloc(10 * 1024 * 1024, 0x61))
    const [err] = await reported
    expect(err).toMatchObject({ code: ErrorCode.LINE_TOO_LONG, limit: DEFAULT_MAX_LINE_BYTES })
    expect((err as Error).cause).toMatchObject({ code: 'ERR_PROTO_FRAME_TOO_LARGE' })
    expect(await c2.bytes(5)).toEqual(wire('ping_response'))
    // Closed with the rest of its 10 MiB unread: the peer sees a reset or EOF, never more data.
    expect(await c1.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
  })

  it(`keeps 1 active and ${DEFAULT_MAX_QUEUE} queued of 100 connections and refuses the rest`, async () => {
    const { server, port } = await res.server()
    const refused = DEFAULT_MAX_QUEUE + 1
    const busy: [unknown, PeerInfo][] = []
    const allRefused = new Promise<void>((resolve) => {
      server.on('clientError', (err, peer) => {
        busy.push([err, peer])
        if (busy.length === 100 - refused) resolve()
      })
    })
    const sockets = await Promise.all(Array.from({ length: 100 }, () => res.socket(port)))
    const ports = sockets.map((s) => s.socket.localPort)
    await allRefused
    expect(server.active).not.toBeNull()
    expect(server.queued).toBe(DEFAULT_MAX_QUEUE)
    for (const [err] of busy) expect(err).toMatchObject({ code: ErrorCode.BUSY, name: 'OnelineBusyError' })
    // Each refused peer is one of ours, and its connection has ended.
    const refusedPorts = busy.map(([, peer]) => peer.port)
    expect(new Set(refusedPorts).size).toBe(100 - refused)
    await Promise.all(
      refusedPorts.map((p) => sockets[ports.indexOf(p)]?.rest().catch(() => Buffer.alloc(0)) ?? expect.unreachable(`port ${p}`)),
    )
  })

  it('refuses every second connection with busy: refuse', async () => {
    const { server, port } = await res.server({ handler: vectorHandler, busy: 'refuse' })
    const c1 = await res.socket(port)
    const reported = once(server, 'clientError')
    const c2 = await res.socket(port)
    const [err] = await reported
    expect(err).toMatchObject({ code: ErrorCode.BUSY })
    await c2.rest().catch(() => undefined)
    expect(server.queued).toBe(0)
    c1.write(wire('ping_request'))
    expect(await c1.bytes(5)).toEqual(wire('ping_response'))
  })

  it('refuses the third connection with maxQueue: 1', async () => {
    const { server, port } = await res.server({ handler: vectorHandler, limits: { maxQueue: 1 } })
    await res.socket(port)
    await res.socket(port)
    const reported = once(server, 'clientError')
    const c3 = await res.socket(port)
    const [, peer] = await reported
    expect(peer).toMatchObject({ port: c3.socket.localPort })
    expect(server.queued).toBe(1)
  })

  it('closes an idle active client after idleTimeout and serves the next', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { server, port } = await res.server({ handler: vectorHandler, limits: { idleTimeout: 60_000 } })
    const errors: unknown[] = []
    server.on('clientError', (err) => errors.push(err))
    const c1 = await res.socket(port)
    c1.write(wire('ping_request'))
    await c1.bytes(5)
    const c2 = await res.socket(port)
    c2.write(wire('ping_request'))
    const pong = c2.bytes(5)
    for (let i = 0; i < 100 && errors.length === 0; i++) {
      await vi.advanceTimersByTimeAsync(60_000)
      await turn()
    }
    expect(errors).toEqual([expect.objectContaining({ code: ErrorCode.IDLE_TIMEOUT, timeout: 60_000 })])
    expect(await pong).toEqual(wire('ping_response'))
    expect(await c1.rest()).toHaveLength(0)
  })

  it('closes an active client that takes none of its replies for idleTimeout and serves the next', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    // 16 MiB: more than the kernel takes from a peer that reads nothing.
    const { server, port } = await res.server({ handler: () => 'x'.repeat(16_777_216), limits: { idleTimeout: 60_000 } })
    const errors: [unknown, PeerInfo][] = []
    server.on('clientError', (err, peer) => errors.push([err, peer]))
    const c1 = net.connect({ host: '127.0.0.1', port })
    res.track(c1)
    c1.on('error', () => {})
    await once(c1, 'connect')
    c1.pause()
    c1.write('big\n')
    const c2 = await res.socket(port)
    c2.write(wire('ping_request'))
    const pong = c2.bytes(5)
    for (let i = 0; i < 100 && errors.length === 0; i++) {
      await vi.advanceTimersByTimeAsync(60_000)
      await turn()
    }
    expect(errors).toEqual([[expect.objectContaining({ code: ErrorCode.IDLE_TIMEOUT, timeout: 60_000 }), expect.objectContaining({ port: c1.localPort })]])
    // Paused, c1 would not see the close; the server's side of it is what must be gone.
    await (errors[0]?.[1] as OnelineConnection).closed
    expect(await pong).toEqual(wire('ping_response'))
  })

  it('destroys, after idleTimeout, a client it has let go whose last lines it never takes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const { server, port } = await res.server({
      limits: { idleTimeout: 60_000 },
      handler: (_command, ctx) => {
        // 16 MiB: more than the kernel takes from a peer that reads nothing.
        ctx.send('x'.repeat(16_777_216))
        throw new Error('boom')
      },
    })
    const failed = once(server, 'handlerError')
    const c1 = net.connect({ host: '127.0.0.1', port })
    res.track(c1)
    c1.on('error', () => {})
    await once(c1, 'connect')
    c1.pause()
    c1.write('go\n')
    const [, ctx] = (await failed) as [unknown, OnelineContext]
    for (let i = 0; i < 100 && ctx.connection.state !== 'closed'; i++) {
      await vi.advanceTimersByTimeAsync(60_000)
      await turn()
    }
    expect(ctx.connection.state).toBe('closed')
    expect(server.connections.size).toBe(0)
  })

  it('has no idle limit by default', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { server, port } = await res.server()
    const errors: unknown[] = []
    server.on('clientError', (err) => errors.push(err))
    const c = await res.socket(port)
    c.write(wire('ping_request'))
    await c.bytes(5)
    for (let i = 0; i < 24; i++) {
      await vi.advanceTimersByTimeAsync(3_600_000)
      await turn()
    }
    c.write(wire('ping_request'))
    expect(await c.bytes(5)).toEqual(wire('ping_response'))
    expect(errors).toEqual([])
  })

  it('stops reading a client that floods commands without reading the replies', async () => {
    const reply = 'x'.repeat(60_000)
    let handled = 0
    const { server, port } = await res.server({
      handler: () => {
        handled += 1
        return reply
      },
    })
    const errors: unknown[] = []
    server.on('clientError', (err) => errors.push(err))
    const c = await res.socket(port)
    // 3000 replies are 180 MB: far past what kernel buffers and maxWriteBufferBytes hold.
    c.write('big\n'.repeat(3000))
    for (let read = 0; read < 10; read++) {
      for (let i = 0; i < 20; i++) await turn()
      expect(await c.line()).toHaveLength(60_001)
      expect(handled).toBeLessThan(1000)
    }
    expect(errors).toEqual([])
  })

  it('closes a client whose unread replies pass maxWriteBufferBytes', async () => {
    const { server, port } = await res.server({
      limits: { maxWriteBufferBytes: 1024 },
      handler: (_command, ctx) => {
        for (let i = 0; i < 100; i++) ctx.send('0123456789abcdef')
      },
    })
    const reported = once(server, 'clientError')
    const c1 = await res.socket(port)
    const c2 = await res.socket(port)
    c2.write(wire('ping_request'))
    c1.write('flood\n')
    const [err] = await reported
    expect(err).toMatchObject({ code: 'ERR_PROTO_WRITE_BUFFER_FULL', limit: 1024 })
    expect(await c2.bytes(5)).toEqual(wire('ping_response'))
  })

  it('closes at once a client that reads nothing once its unread lines pass maxWriteBufferBytes', async () => {
    const line = 'x'.repeat(1_048_575)
    const { server, port } = await res.server({
      limits: { maxWriteBufferBytes: 16_777_216 },
      handler: (_command, ctx) => {
        // 24 MiB: the first 16 MiB are queued, more than the kernel takes from a peer that reads nothing.
        for (let i = 0; i < 24; i++) ctx.send(line)
      },
    })
    const reported = once(server, 'clientError')
    const c1 = net.connect({ host: '127.0.0.1', port })
    res.track(c1)
    c1.on('error', () => {})
    await once(c1, 'connect')
    c1.pause()
    const c2 = await res.socket(port)
    c2.write(wire('ping_request'))
    c1.write('flood\n')
    const [err, peer] = await reported
    expect(err).toMatchObject({ code: 'ERR_PROTO_WRITE_BUFFER_FULL', limit: 16_777_216 })
    // Paused, c1 would not see the close; the server's side of it is what must be gone.
    await (peer as OnelineConnection).closed
    expect(await c2.bytes(5)).toEqual(wire('ping_response'))
  })
})

describe('lifecycle', () => {
  it('reports each connection as it is admitted and as it becomes active, with active, queued and connections', async () => {
    const { server, port } = await res.server()
    expect(server.active).toBeNull()
    const admitted: OnelineConnection[] = []
    server.on('connection', (connection) => admitted.push(connection))
    const first = once(server, 'active')
    const c1 = await res.socket(port)
    const [connection] = (await first) as [OnelineConnection]
    expect(connection).toMatchObject({ address: '127.0.0.1', port: c1.socket.localPort, state: 'active' })
    expect(connection.remote).toEqual({ address: '127.0.0.1', port: c1.socket.localPort })
    expect(server.active).toBe(connection)
    expect(admitted).toEqual([connection])
    const queuedUp = once(server, 'connection')
    const c2 = await res.socket(port)
    const [waiting] = (await queuedUp) as [OnelineConnection]
    expect(waiting).toMatchObject({ port: c2.socket.localPort, state: 'queued' })
    expect(server.queued).toBe(1)
    expect([...server.connections]).toEqual([connection, waiting])
    c2.write(wire('ping_request'))
    const second = once(server, 'active')
    c1.write(wire('disconnect_request'))
    expect(await second).toEqual([waiting])
    expect(waiting.state).toBe('active')
    await connection.closed
    expect(connection.state).toBe('closed')
    expect([...server.connections]).toEqual([waiting])
    expect(server.queued).toBe(0)
  })

  it('rejects close() with an unknown option, and closes nothing', async () => {
    const { server } = await res.server()
    const closing = server.close({ sginal: AbortSignal.abort() } as never)
    await expect(closing).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE', message: expect.stringContaining("did you mean 'signal'") })
    expect(server.listening).toBe(true)
  })

  it('lets close() finish the running handler, then closes active and queued clients', async () => {
    const release = gate()
    const started = gate()
    const { server, port } = await res.server({
      handler: async () => {
        started.open()
        await release.promise
        return 'finished'
      },
    })
    const c1 = await res.socket(port)
    c1.write('slow\nnever\n')
    await started.promise
    const queued = await res.socket(port)
    const closedEvent = once(server, 'close')
    const closing = server.close()
    expect(await queued.rest()).toHaveLength(0)
    release.open()
    expect((await c1.rest()).toString()).toBe('finished\n')
    await closing
    await closedEvent
    const [err] = await once(net.connect({ host: '127.0.0.1', port }), 'error')
    expect(err).toMatchObject({ code: 'ECONNREFUSED' })
  })

  it('closes an idle active client at once on close()', async () => {
    const { server, port } = await res.server()
    const c = await res.socket(port)
    c.write(wire('ping_request'))
    await c.bytes(5)
    await server.close()
    expect(await c.rest()).toHaveLength(0)
  })

  it('destroys a client whose handler is still running when the close signal aborts', async () => {
    const started = gate()
    let reason: unknown
    const { server, port } = await res.server({
      handler: async (_command, ctx) => {
        started.open()
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))
        reason = ctx.signal.reason
      },
    })
    const c = await res.socket(port)
    c.write('hang\n')
    await started.promise
    const controller = new AbortController()
    const closing = server.close({ signal: controller.signal })
    controller.abort()
    await closing
    expect(await c.rest()).toHaveLength(0)
    expect(reason).toMatchObject({ code: ErrorCode.CLOSED })
  })

  it('rejects listen on a port in use with ERR_ONELINE_LISTEN, the net error as cause, and after close the same way', async () => {
    const { port } = await res.server()
    const second = createServer()
    const busy: unknown = await second.listen({ host: '127.0.0.1', port }).catch((err: unknown) => err)
    expect(busy).toMatchObject({
      code: ErrorCode.LISTEN,
      name: 'OnelineListenError',
      message: expect.stringContaining(`127.0.0.1:${port}`),
      cause: expect.objectContaining({ code: 'EADDRINUSE' }),
    })
    await second.close()
    await expect(second.listen({ port: 0 })).rejects.toMatchObject({ code: ErrorCode.LISTEN, cause: expect.objectContaining({ code: 'ERR_PROTO_USAGE' }) })
  })

  it('rejects listen with the reason of an aborted signal', async () => {
    const server = createServer()
    const reason = new Error('stop')
    await expect(server.listen({ port: 0, signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    await server.close()
  })

  it('defaults to 127.0.0.1', async () => {
    const server = createServer()
    const { host } = await server.listen({ port: 0 })
    expect(host).toBe('127.0.0.1')
    await server.close()
    expect(net.isIP(host)).toBe(4)
  })
})
