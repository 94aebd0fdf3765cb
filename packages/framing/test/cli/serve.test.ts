import { EventEmitter, once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { defineCli, defineVerb } from '../../src/cli/definition.ts'
import { hostOption, listenTarget, portOption, serveSocketOption } from '../../src/cli/options.ts'
import { runCli } from '../../src/cli/run.ts'
import type { CliServer } from '../../src/cli/serve.ts'
import { DEFAULT_CLOSE_GRACE, serveUntilStopped } from '../../src/cli/serve.ts'
import { ProtoError } from '../../src/errors.ts'
import { captureIO } from '../../src/testing/run-main.ts'
import { settled } from '../helpers.ts'
import { STACK_FRAME } from './helpers.ts'

/** A server on node:net whose close waits for its connections, unless the signal cuts them. */
class TestServer extends EventEmitter implements CliServer<{ host: string; port: number } | { path: string }> {
  readonly net = net.createServer((socket) => {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
  })
  readonly sockets = new Set<net.Socket>()
  closeSignal: AbortSignal | undefined

  async listen(target: { host: string; port: number } | { path: string }): Promise<unknown> {
    this.net.listen(target)
    await once(this.net, 'listening')
    const address = this.net.address()
    return typeof address === 'string' ? { path: address } : { host: address?.address, port: address?.port }
  }

  close(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.closeSignal = options.signal
    const closed = new Promise<void>((resolve) => this.net.close(() => resolve()))
    const cut = (): void => {
      for (const socket of this.sockets) socket.destroy()
    }
    if (options.signal?.aborted === true) cut()
    else options.signal?.addEventListener('abort', cut, { once: true })
    return closed
  }
}

/** A server that never binds: it reports `address` and closes only when its signal aborts. */
class PretendServer implements CliServer<unknown> {
  closes = 0
  readonly address: unknown
  readonly failure: Error | undefined

  constructor(address: unknown, failure?: Error) {
    this.address = address
    this.failure = failure
  }

  listen(): Promise<unknown> {
    return this.failure === undefined ? Promise.resolve(this.address) : Promise.reject(this.failure)
  }

  close(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.closes += 1
    const signal = options.signal
    if (signal === undefined || signal.aborted) return Promise.resolve()
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
  }
}

let current: { server: CliServer<never>; stopped?: Promise<void> } | undefined

const serve = defineVerb({
  name: 'serve',
  summary: 'serve',
  options: { host: hostOption('127.0.0.1'), port: portOption(0), socket: serveSocketOption },
  run: async (ctx) => {
    if (current === undefined) throw new Error('no server set')
    await serveUntilStopped(ctx, current.server as CliServer<unknown>, { listen: listenTarget(ctx.values), stopped: current.stopped })
  },
})
const toy = defineCli({ name: 'toy', summary: 'toy', version: '1', verbs: [serve] })

/** Starts `toy serve` in process: its first stdout line and a way to stop it. */
async function start(server: CliServer<never>, argv: string[] = [], stopped?: Promise<void>) {
  current = stopped === undefined ? { server } : { server, stopped }
  const stop = new AbortController()
  const force = new AbortController()
  const c = captureIO({ signal: stop.signal, forceSignal: force.signal })
  const firstLine = c.stdout.firstLine()
  const exit = runCli(toy, ['serve', ...argv], c.io)
  return { c, exit, stop, force, firstLine: await Promise.race([firstLine, exit.then((code) => `exited ${code}: ${c.stderr.text}`)]) }
}

/** Waits, turn by turn without any timer (vi.waitFor would move faked clocks), until `done()`. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve))
}

afterEach(() => {
  current = undefined
  vi.useRealTimers()
})

describe('serveUntilStopped', () => {
  it('prints exactly "listening <host>:<port>" first, and exits 0 on the stop signal', async () => {
    const server = new TestServer()
    const { c, exit, stop, firstLine } = await start(server)
    const port = (server.net.address() as net.AddressInfo).port
    expect(firstLine).toBe(`listening 127.0.0.1:${port}`)
    stop.abort()
    expect(await exit).toBe(0)
    expect(c.stdout.text).toBe(`listening 127.0.0.1:${port}\n`)
    expect(server.net.listening).toBe(false)
  })

  it('prints "listening <path>" for a unix socket', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'framing-serve-'))
    try {
      const path = join(dir, 'toy.sock')
      const server = new TestServer()
      const { exit, stop, firstLine } = await start(server, ['--socket', path])
      expect(firstLine).toBe(`listening ${path}`)
      stop.abort()
      expect(await exit).toBe(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it.each([
    [{ host: '::1', port: 7 }, 'listening [::1]:7'],
    [{ address: '127.0.0.1', port: 8, family: 'IPv4' }, 'listening 127.0.0.1:8'],
    ['/run/x.sock', 'listening /run/x.sock'],
    [undefined, 'listening 127.0.0.1:0'],
  ])('names %j as the server gives it', async (address, line) => {
    const { exit, stop, firstLine } = await start(new PretendServer(address))
    expect(firstLine).toBe(line)
    stop.abort()
    expect(await exit).toBe(0)
  })

  it('reports a busy port as ERR_<BIN>_LISTEN with the system error as cause, exit 2, no stack', async () => {
    const busy = net.createServer()
    busy.listen(0, '127.0.0.1')
    await once(busy, 'listening')
    const port = (busy.address() as net.AddressInfo).port
    try {
      const server = new TestServer()
      const { c, exit } = await start(server, ['--port', String(port)])
      expect(await exit).toBe(2)
      expect(c.stdout.text).toBe('')
      const lines = c.stderr.text.split('\n')
      expect(lines[0]).toBe(`toy: cannot listen on 127.0.0.1:${port} (ERR_TOY_LISTEN)`)
      expect(lines[1]).toMatch(/^ {2}cause: listen EADDRINUSE.* \(EADDRINUSE\)$/)
      expect(c.stderr.text).not.toMatch(STACK_FRAME)
    } finally {
      busy.close()
    }
  })

  it('passes a @proto listen error through as it is', async () => {
    const failure = Object.assign(new ProtoError('cannot listen on 127.0.0.1:1'), { code: 'ERR_PKG_LISTEN' })
    const { c, exit } = await start(new PretendServer(undefined, failure))
    expect(await exit).toBe(2)
    expect(c.stderr.text).toBe('toy: cannot listen on 127.0.0.1:1 (ERR_PKG_LISTEN)\n')
  })

  it('prints clientError and handlerError escaped, with the peer, from the peer itself or a context', async () => {
    const server = new TestServer()
    const { c, exit, stop } = await start(server)
    const peerText = Object.assign(new ProtoError('bad line \u001b[2J'), { code: 'ERR_PKG_BAD' })
    server.emit('clientError', peerText, { address: '127.0.0.1', port: 4000 })
    server.emit('handlerError', new Error('boom', { cause: 'why' }), { remote: { address: '::1', port: 4001 } })
    server.emit('handlerError', new Error('boom'), { peer: { address: '127.0.0.1', port: 4002 } })
    server.emit('clientError', new Error('odd'), null)
    stop.abort()
    expect(await exit).toBe(0)
    expect(c.stderr.text).toBe(
      [
        'client 127.0.0.1:4000: bad line \\x1b[2J (ERR_PKG_BAD)',
        'client [::1]:4001: boom (Error)',
        '  cause: why (ERR_UNKNOWN)',
        'client 127.0.0.1:4002: boom (Error)',
        'client unknown: odd (Error)',
        '',
      ].join('\n'),
    )
  })

  it('stops when the server stops by itself', async () => {
    let stopServer = (): void => {}
    const stopped = new Promise<void>((resolve) => (stopServer = resolve))
    const server = new TestServer()
    const { exit } = await start(server, [], stopped)
    stopServer()
    expect(await exit).toBe(0)
    expect(server.net.listening).toBe(false)
  })

  it('does not wait on an idle connection: the grace cuts it', async () => {
    const server = new TestServer()
    const { exit, stop } = await start(server)
    const idle = net.connect((server.net.address() as net.AddressInfo).port, '127.0.0.1')
    idle.on('error', () => {})
    await once(server.net, 'connection')
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    stop.abort()
    await until(() => server.closeSignal !== undefined)
    expect(await settled(exit)).toBe(false)
    await vi.advanceTimersByTimeAsync(DEFAULT_CLOSE_GRACE - 1)
    expect(server.closeSignal?.aborted).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(server.closeSignal?.aborted).toBe(true)
    expect(await exit).toBe(0)
    idle.destroy()
  })

  it('cuts connections at once on the second signal', async () => {
    const server = new PretendServer({ host: '127.0.0.1', port: 1 })
    const { exit, stop, force } = await start(server)
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    stop.abort()
    await until(() => server.closes === 1)
    expect(await settled(exit)).toBe(false)
    force.abort()
    expect(await exit).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })
})
