import dc from 'node:diagnostics_channel'
import { afterEach, describe, expect, it } from 'vitest'
import { connect } from '../src/client.ts'
import { createServer } from '../src/server.ts'
import { publicError } from './helpers.ts'

const NAMES = [
  'proto:karp:server:listening',
  'proto:karp:connection:open',
  'proto:karp:connection:close',
  'proto:karp:request:start',
  'proto:karp:request:end',
  'proto:karp:request:error',
] as const

interface Seen {
  channel: string
  message: Record<string, unknown>
}

const subscriptions: [string, (message: unknown) => void][] = []
afterEach(() => {
  for (const [name, listener] of subscriptions.splice(0)) dc.unsubscribe(name, listener)
})

/** Records every message on karp's six channels, in order. */
function record(): Seen[] {
  const seen: Seen[] = []
  for (const name of NAMES) {
    const listener = (message: unknown): void => {
      seen.push({ channel: name.slice('proto:karp:'.length), message: message as Record<string, unknown> })
    }
    dc.subscribe(name, listener)
    subscriptions.push([name, listener])
  }
  return seen
}

describe('diagnostics channels', () => {
  it('publishes listening, both ends of each connection and each request with its side and peer, in order', async () => {
    const seen = record()
    const server = createServer({
      handlers: {
        echo: (request) => request.data,
        fail: () => {
          throw publicError('no')
        },
      },
    })
    const address = await server.listen({ port: 0 })
    const client = await connect({ port: address.port })
    const [serverEnd] = [...server.connections]
    await client.request('echo', 'hi')
    await expect(client.request('fail')).rejects.toMatchObject({ code: 'ERR_KARP_REMOTE' })
    await client.notify('echo', 'note')
    await client.close()
    await server.close()

    const local = { address: '127.0.0.1', port: address.port }
    const summary = seen.map(({ channel, message }) => {
      const request = message['request'] as { direction: string; route: string } | undefined
      return `${channel} ${String(message['side'])}${request === undefined ? '' : ` ${request.direction} ${request.route}`}`
    })
    // The server's messages about a request come between the client's start and end of it.
    expect(summary.filter((line) => line.startsWith('server:listening') || line.includes(' client'))).toEqual([
      'server:listening server',
      'connection:open client',
      'request:start client outgoing echo',
      'request:end client outgoing echo',
      'request:start client outgoing fail',
      'request:error client outgoing fail',
      'request:start client outgoing echo',
      'request:end client outgoing echo',
      'connection:close client',
    ])
    expect(summary.filter((line) => line.includes(' server') && !line.startsWith('server:listening'))).toEqual([
      'connection:open server',
      'request:start server incoming echo',
      'request:end server incoming echo',
      'request:start server incoming fail',
      'request:error server incoming fail',
      'request:start server incoming echo',
      'request:end server incoming echo',
      'connection:close server',
    ])
    expect(seen[0]?.message).toEqual({ side: 'server', server, address })
    const clientOpen = seen.find((s) => s.channel === 'connection:open' && s.message['side'] === 'client')
    expect(clientOpen?.message).toEqual({ side: 'client', remote: local, connection: client })
    const serverOpen = seen.find((s) => s.channel === 'connection:open' && s.message['side'] === 'server')
    expect(serverOpen?.message).toEqual({ side: 'server', remote: serverEnd?.remote, connection: serverEnd })

    const starts = seen.filter((s) => s.channel === 'request:start' && s.message['side'] === 'client')
    const ends = seen.filter((s) => s.channel !== 'request:start' && s.channel.startsWith('request:') && s.message['side'] === 'client')
    // One object per request, from start to end or error.
    expect(ends.map((s) => s.message['request'])).toEqual(starts.map((s) => s.message['request']))
    for (const [i, start] of starts.entries()) expect(ends[i]?.message['request']).toBe(start.message['request'])
    expect(starts[0]?.message).toEqual({
      side: 'client',
      remote: local,
      connection: client,
      request: { direction: 'outgoing', route: 'echo', id: expect.stringMatching(/^\d{16}$/), wantsReply: true },
    })
    expect(starts[2]?.message['request']).toMatchObject({ wantsReply: false })
    const failed = seen.find((s) => s.channel === 'request:error' && s.message['side'] === 'client')
    expect(failed?.message['error']).toMatchObject({ code: 'ERR_KARP_REMOTE', message: 'no' })
  })

  it('publishes a request the server has no handler for, or refuses, as request:error', async () => {
    const seen = record()
    const server = createServer({ limits: { maxInFlight: 1 }, handlers: { hang: () => new Promise(() => {}) } })
    const { port } = await server.listen({ port: 0 })
    const client = await connect({ port })
    await expect(client.request('nosuch')).rejects.toMatchObject({ message: "'nosuch'" })
    void client.request('hang').catch(() => {})
    await expect(client.request('hang')).rejects.toMatchObject({ message: expect.stringMatching(/^ERR_KARP_TOO_MANY_IN_FLIGHT/) })
    const errors = seen.filter((s) => s.channel === 'request:error' && s.message['side'] === 'server').map((s) => s.message['error'])
    expect(errors).toEqual([
      expect.objectContaining({ code: 'ERR_KARP_UNKNOWN_ROUTE', message: "no route 'nosuch'" }),
      expect.objectContaining({ code: 'ERR_KARP_TOO_MANY_IN_FLIGHT' }),
    ])
    await client.close({ signal: AbortSignal.abort() })
    await server.close({ signal: AbortSignal.abort() })
    const closes = seen.filter((s) => s.channel === 'connection:close')
    expect(closes.map((s) => s.message['error'])).toEqual([expect.objectContaining({ code: 'ERR_KARP_CLOSED' }), expect.objectContaining({ code: 'ERR_KARP_CLOSED' })])
  })
})
