// The six proto:oneline:* diagnostics channels: what each side publishes, in order, and nothing
// at all while nobody subscribes.
import dc from 'node:diagnostics_channel'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { channels } from '../src/diagnostics.ts'
import { ErrorCode } from '../src/errors.ts'
import { Resources, until } from './helpers.ts'

const NAMES = ['server:listening', 'connection:open', 'connection:close', 'request:start', 'request:end', 'request:error'] as const

interface Seen {
  channel: (typeof NAMES)[number]
  message: Record<string, unknown>
}

const res = new Resources()
const unsubscribe: (() => void)[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const off of unsubscribe.splice(0)) off()
  await res.close()
})

/** Every message on the six channels from now on, in the order published. */
function record(): Seen[] {
  const seen: Seen[] = []
  for (const channel of NAMES) {
    const listener = (message: unknown): void => void seen.push({ channel, message: message as Record<string, unknown> })
    dc.subscribe(`proto:oneline:${channel}`, listener)
    unsubscribe.push(() => dc.unsubscribe(`proto:oneline:${channel}`, listener))
  }
  return seen
}

/** `channel side command` for each message of `seen`, as a compact trace. */
function trace(seen: Seen[], side: 'client' | 'server'): string[] {
  return seen
    .filter((s) => s.message['side'] === side)
    .map((s) => {
      const request = s.message['request'] as { command?: string } | undefined
      return request === undefined ? s.channel : `${s.channel} ${request.command ?? ''}`
    })
}

describe('diagnostics channels', () => {
  it('publish a server and a client exchange on both sides, in order, with the peer and the same request object', async () => {
    const seen = record()
    const { server, port } = await res.server({ handler: (command) => command.toUpperCase() })
    const client = await connect({ port })
    expect(await client.request('hello')).toEqual(['HELLO'])
    await client.close()
    await until(() => seen.filter((s) => s.channel === 'connection:close').length === 2, 'both ends closed')

    expect(trace(seen, 'server')).toEqual([
      'server:listening',
      'connection:open',
      'request:start ping',
      'request:end ping',
      'request:start hello',
      'request:end hello',
      'request:start disconnect',
      'request:end disconnect',
      'connection:close',
    ])
    expect(trace(seen, 'client')).toEqual(['connection:open', 'request:start hello', 'request:end hello', 'connection:close'])

    const listening = seen[0]?.message
    expect(listening).toEqual({ side: 'server', server, address: { host: '127.0.0.1', port, family: 'IPv4' } })
    const serverOpen = seen.find((s) => s.channel === 'connection:open' && s.message['side'] === 'server')?.message
    expect(serverOpen?.['remote']).toEqual({ address: '127.0.0.1', port: expect.any(Number) })
    const clientOpen = seen.find((s) => s.channel === 'connection:open' && s.message['side'] === 'client')?.message
    expect(clientOpen).toEqual({ side: 'client', remote: { address: '127.0.0.1', port }, connection: client })
    for (const side of ['client', 'server']) {
      const [start, end] = seen.filter((s) => s.message['side'] === side && (s.message['request'] as { command?: string } | undefined)?.command === 'hello')
      expect(start?.message['request']).toBe(end?.message['request'])
      expect(start?.message['connection']).toBe(end?.message['connection'])
    }
    const serverRequest = seen.find((s) => s.channel === 'request:start' && s.message['side'] === 'server')?.message['request']
    expect(serverRequest).toEqual({ command: 'ping', invalid: false, lines: undefined })
    const clientRequest = seen.find((s) => s.channel === 'request:start' && s.message['side'] === 'client')?.message['request']
    expect(clientRequest).toEqual({ command: 'hello', invalid: false, lines: 1 })
  })

  it('publish request:error with the error: a handler that throws, a request that times out', async () => {
    const seen = record()
    const failure = new Error('no')
    let release = (): void => {}
    let started = (): void => {}
    const running = new Promise<void>((resolve) => (started = resolve))
    const { server } = await res.server({
      handler: (command) => {
        if (command === 'fail') throw failure
        started()
        return new Promise<string>((resolve) => (release = () => resolve('late')))
      },
    })
    server.on('handlerError', () => {})
    const { port } = server.address() as { port: number }
    const client = await connect({ port })
    await expect(client.request('hang', { timeout: 1 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT })
    const clientError = seen.find((s) => s.channel === 'request:error')?.message
    expect(clientError).toMatchObject({ side: 'client', request: { command: 'hang' }, error: expect.objectContaining({ code: ErrorCode.TIMEOUT }) })
    // The deadline can pass before the command reaches the handler: it is released once it runs.
    await running
    release()
    await client.close()

    const second = await connect({ port })
    second.send('fail').catch(() => {})
    await second.closed
    const handlerFailure = seen.find((s) => s.channel === 'request:error' && s.message['side'] === 'server')?.message
    expect(handlerFailure).toMatchObject({ request: { command: 'fail' }, error: failure })
  })

  it('publish nothing, and build no message, while nobody subscribes', async () => {
    const published = NAMES.map((name) => vi.spyOn(dc.channel(`proto:oneline:${name}`), 'publish'))
    expect(Object.values(channels).every((channel) => !channel.hasSubscribers)).toBe(true)
    const { port } = await res.server({ handler: (command) => command })
    const client = await connect({ port })
    expect(await client.request('quiet')).toEqual(['quiet'])
    await client.send('also quiet')
    await client.close()
    for (const publish of published) expect(publish).not.toHaveBeenCalled()
  })
})
