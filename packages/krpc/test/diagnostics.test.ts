import dc from 'node:diagnostics_channel'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { channels } from '../src/diagnostics.ts'
import { createServer } from '../src/server.ts'
import type { KrpcServer } from '../src/server.ts'
import type { KrpcClient } from '../src/types.ts'
import { postCall, sendRaw } from './helpers.ts'

const NAMES = ['server:listening', 'connection:open', 'connection:close', 'request:start', 'request:end', 'request:error'] as const

interface Seen {
  name: string
  message: Record<string, unknown>
}

let unsubscribe: (() => void) | undefined
afterEach(() => {
  unsubscribe?.()
  unsubscribe = undefined
  vi.restoreAllMocks()
})

function record(): Seen[] {
  const seen: Seen[] = []
  const listeners = NAMES.map((name) => {
    const listener = (message: unknown): void => {
      seen.push({ name, message: message as Record<string, unknown> })
    }
    dc.subscribe(`proto:krpc:${name}`, listener)
    return [name, listener] as const
  })
  unsubscribe = () => {
    for (const [name, listener] of listeners) dc.unsubscribe(`proto:krpc:${name}`, listener)
  }
  return seen
}

describe('diagnostics channels', () => {
  it('tell of the server, its connections and each call, on both sides, in order', async () => {
    const seen = record()
    const server: KrpcServer = createServer({ handlers: {
      echo: (x: unknown) => x,
      boom: () => {
        throw new Error('boom')
      },
    } })
    const address = await server.listen({ host: '127.0.0.1', port: 0 })
    const client: KrpcClient = await connect({ port: address.port })
    expect(await client.call('echo', ['hi'])).toBe('hi')
    await expect(client.call('boom')).rejects.toMatchObject({ rpcCode: -32000 })
    await client.close()
    await sendRaw(address.port, Buffer.from('PUT / HTTP/1.1\r\nHost: x\r\n\r\n'))
    await server.close()

    expect(seen[0]).toEqual({ name: 'server:listening', message: { side: 'server', server, address } })
    const side = (which: string): Seen[] => seen.filter((s) => s.message.side === which && s.name !== 'server:listening')
    const names = (list: Seen[]): string[] => list.map((s) => `${s.name} ${String((s.message.request as { method?: string } | undefined)?.method ?? '')}`.trim())
    // The client opens a connection when its first call needs one, after that call has started.
    expect(names(side('client'))).toEqual([
      'request:start echo', 'connection:open', 'request:end echo', 'request:start boom', 'request:error boom', 'connection:close',
    ])
    // The server's messages, connection by connection: the client's, then the raw PUT.
    const byConnection = new Map<unknown, Seen[]>()
    for (const s of side('server')) byConnection.set(s.message.connection, [...(byConnection.get(s.message.connection) ?? []), s])
    expect([...byConnection.values()].map(names)).toEqual([
      ['connection:open', 'request:start echo', 'request:end echo', 'request:start boom', 'request:error boom', 'connection:close'],
      ['connection:open', 'request:start', 'request:error', 'connection:close'],
    ])
    for (const { message } of seen.slice(1)) {
      expect(message.remote).toEqual({ address: '127.0.0.1', port: expect.any(Number) as number })
      expect(message.connection).toBeDefined()
    }
    const clientMessages = side('client')
    expect(clientMessages.every((s) => s.message.connection === client)).toBe(true)
    expect(clientMessages[0]?.message.remote).toEqual({ address: '127.0.0.1', port: address.port })
    const serverStart = side('server').find((s) => s.name === 'request:start')
    const serverEnd = side('server').find((s) => s.name === 'request:end')
    expect(serverEnd?.message.request).toBe(serverStart?.message.request)
    expect(serverStart?.message.request).toEqual({ verb: 'POST', method: 'echo' })
    const serverErrors = side('server').filter((s) => s.name === 'request:error')
    expect(serverErrors.map((s) => (s.message.error as Error).message)).toEqual(['boom', "Unsupported method ('PUT')."])
    expect(side('client').find((s) => s.name === 'request:error')?.message.error).toMatchObject({ code: 'ERR_KRPC_REMOTE' })
  })

  it('publish nothing while nobody subscribes', async () => {
    const publishes = NAMES.map(() => 0)
    const all = [channels.serverListening, channels.connectionOpen, channels.connectionClose, channels.requestStart, channels.requestEnd,
      channels.requestError]
    all.forEach((channel, i) => {
      vi.spyOn(channel, 'publish').mockImplementation(() => {
        publishes[i] = (publishes[i] ?? 0) + 1
      })
    })
    const server = createServer({ handlers: { echo: (x: unknown) => x } })
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    const client = await connect({ port })
    expect(await client.call('echo', ['quiet'])).toBe('quiet')
    await client.close()
    await sendRaw(port, postCall('{"method": "echo", "params": [1]}'))
    await server.close()
    expect(publishes).toEqual([0, 0, 0, 0, 0, 0])
  })
})
