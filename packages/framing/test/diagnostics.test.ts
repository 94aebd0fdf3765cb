import dc from 'node:diagnostics_channel'
import { afterEach, describe, expect, it } from 'vitest'
import { diagnosticsChannels } from '../src/diagnostics.ts'
import type { DiagnosticsChannels } from '../src/diagnostics.ts'
import type { PeerInfo } from '../src/peer-info.ts'

const NAMES = [
  'server:listening',
  'connection:open',
  'connection:close',
  'request:start',
  'request:end',
  'request:error',
] as const

const unsubscribes: (() => void)[] = []
afterEach(() => {
  for (const unsubscribe of unsubscribes.splice(0)) unsubscribe()
})

/** Every message on the six channels of `pkg`, as `[channel, message]`, in the order they came. */
function record(pkg: string): [string, unknown][] {
  const seen: [string, unknown][] = []
  for (const name of NAMES) {
    const channel = `proto:${pkg}:${name}`
    const subscriber = (message: unknown): void => {
      seen.push([name, message])
    }
    dc.subscribe(channel, subscriber)
    unsubscribes.push(() => dc.unsubscribe(channel, subscriber))
  }
  return seen
}

interface Connection extends PeerInfo {
  readonly id: number
}
interface Request {
  readonly route: string
}

/** What a package does around one request, publishing only to subscribed channels. */
function serveOne(channels: DiagnosticsChannels<object, Connection, Request>, failing: boolean): void {
  const connection: Connection = { id: 1, address: '127.0.0.1', port: 5000 }
  const remote: PeerInfo = { address: connection.address, port: connection.port }
  const side = 'server'
  if (channels.connectionOpen.hasSubscribers) channels.connectionOpen.publish({ side, remote, connection })
  const request: Request = { route: 'echo' }
  if (channels.requestStart.hasSubscribers) channels.requestStart.publish({ side, remote, connection, request })
  if (failing) {
    if (channels.requestError.hasSubscribers) channels.requestError.publish({ side, remote, connection, request, error: new Error('boom') })
  } else if (channels.requestEnd.hasSubscribers) {
    channels.requestEnd.publish({ side, remote, connection, request })
  }
  if (channels.connectionClose.hasSubscribers) channels.connectionClose.publish({ side, remote, connection })
}

describe('diagnosticsChannels', () => {
  it('names the six channels proto:<pkg>:…', () => {
    const channels = diagnosticsChannels('karp')
    expect(
      [channels.serverListening, channels.connectionOpen, channels.connectionClose, channels.requestStart, channels.requestEnd, channels.requestError].map(
        (channel) => channel.name,
      ),
    ).toEqual(NAMES.map((name) => `proto:karp:${name}`))
    expect(channels.requestStart).toBe(dc.channel('proto:karp:request:start'))
  })

  it('delivers the messages of a connection and its requests in order, the request the same object from start to end', () => {
    const channels = diagnosticsChannels<object, Connection, Request>('diag-order')
    const seen = record('diag-order')
    serveOne(channels, false)
    serveOne(channels, true)
    expect(seen.map(([name]) => name)).toEqual([
      'connection:open',
      'request:start',
      'request:end',
      'connection:close',
      'connection:open',
      'request:start',
      'request:error',
      'connection:close',
    ])
    const message = (i: number): Record<string, unknown> => seen[i]?.[1] as Record<string, unknown>
    expect(message(1)['request']).toBe(message(2)['request'])
    expect(message(5)['request']).toBe(message(6)['request'])
    expect(message(6)).toMatchObject({ side: 'server', remote: { address: '127.0.0.1', port: 5000 }, error: expect.objectContaining({ message: 'boom' }) })
  })

  it('has no subscribers until someone listens, so a package builds no message', () => {
    const channels = diagnosticsChannels('diag-quiet')
    expect(channels.requestStart.hasSubscribers).toBe(false)
    const seen = record('diag-quiet')
    expect(channels.requestStart.hasSubscribers).toBe(true)
    for (const unsubscribe of unsubscribes.splice(0)) unsubscribe()
    expect(channels.requestStart.hasSubscribers).toBe(false)
    serveOne(channels, false)
    expect(seen).toEqual([])
  })

  it.each(['', 'Karp', 'karp:x', '1karp'])('refuses the package name %j', (name) => {
    expect(() => diagnosticsChannels(name)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })
})
