import net from 'node:net'
import { duplexPair, silentServer, tcpPair } from '@proto/framing/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { DEFAULT_CONNECT_TIMEOUT } from '../src/constants.ts'
import { createServer } from '../src/server.ts'
import type { KarpConnectOptions } from '../src/types.ts'
import { connectionOn } from './helpers.ts'

afterEach(() => {
  vi.useRealTimers()
})

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const probe = net.createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as net.AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

describe('connect', () => {
  it('wraps a refused connection as ERR_KARP_CONNECT naming the target, with the net error as cause', async () => {
    const port = await closedPort()
    const err = await connect({ port }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'KarpConnectError', code: 'ERR_KARP_CONNECT', target: `127.0.0.1:${port}`, cause: { code: 'ECONNREFUSED' } })
    expect((err as Error).message).toContain(`127.0.0.1:${port}`)
  })

  it(`gives up after connectTimeout, ${DEFAULT_CONNECT_TIMEOUT} ms by default, with ERR_KARP_TIMEOUT naming the target`, async () => {
    const silent = await silentServer()
    try {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
      // A TLS handshake the silent peer never answers: the connect hangs on 127.0.0.1.
      const settled = vi.fn()
      const pending = connect({ port: silent.port, tls: true })
      pending.then(settled, settled)
      await silent.accepted()
      await vi.advanceTimersByTimeAsync(DEFAULT_CONNECT_TIMEOUT - 1)
      expect(settled).not.toHaveBeenCalled()
      await vi.advanceTimersByTimeAsync(1)
      await expect(pending).rejects.toMatchObject({
        name: 'TimeoutError',
        code: 'ERR_KARP_TIMEOUT',
        message: `connect to 127.0.0.1:${silent.port} timed out after ${DEFAULT_CONNECT_TIMEOUT} ms`,
      })
      const shorter = connect({ port: silent.port, tls: true, connectTimeout: 2 ** 31 + 5 })
      shorter.then(settled, settled)
      await silent.accepted()
      await vi.advanceTimersByTimeAsync(2 ** 31 + 4)
      expect(settled).toHaveBeenCalledTimes(1)
      await vi.advanceTimersByTimeAsync(1)
      await expect(shorter).rejects.toMatchObject({ code: 'ERR_KARP_TIMEOUT', timeout: 2 ** 31 + 5 })
    } finally {
      vi.useRealTimers()
      await silent.close()
    }
  })

  it('rejects with signal.reason on abort, before or during the connect', async () => {
    const reason = new Error('no')
    await expect(connect({ port: 1, signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    const silent = await silentServer()
    try {
      const controller = new AbortController()
      const pending = connect({ port: silent.port, tls: true, signal: controller.signal })
      await silent.accepted()
      controller.abort(reason)
      await expect(pending).rejects.toBe(reason)
    } finally {
      await silent.close()
    }
  })

  it('runs over a given socket: a test pair, or a TCP connection made elsewhere', async () => {
    const [a, b] = duplexPair()
    const server = connectionOn(b, { handlers: { echo: (request) => request.data } }, undefined, 'server')
    const client = await connect({ socket: a })
    expect(client.remote).toEqual({ address: '', port: 0 })
    expect((await client.request('echo', 'paired')).text()).toBe('paired')
    await client.close()
    await server.closed

    const tcp = await tcpPair()
    const far = connectionOn(tcp.server, { handlers: { echo: (request) => request.data } }, undefined, 'server')
    const near = await connect({ socket: tcp.client })
    expect(near.remote).toEqual({ address: '127.0.0.1', port: tcp.server.localPort })
    expect((await near.request('echo', 'given')).text()).toBe('given')
    await near.close()
    await far.closed
  })

  it('refuses misspelt and conflicting options with ERR_PROTO_USAGE', async () => {
    await expect(connect({ prot: 7755 } as KarpConnectOptions)).rejects.toMatchObject({
      code: 'ERR_PROTO_USAGE',
      message: expect.stringContaining("did you mean 'port'"),
    })
    await expect(connect({ limits: { maxConnections: 1 } } as KarpConnectOptions)).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect({ path: '/tmp/x.sock', port: 1 })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect({ connectTimeout: -1 })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect({ limits: { maxFrameBytes: 10 } })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('talks to a server on its default host', async () => {
    const server = createServer({ handlers: { echo: (request) => request.data } })
    const { port } = await server.listen({ port: 0 })
    const client = await connect({ port })
    expect((await client.request('echo', 'default host')).text()).toBe('default host')
    await client.close()
    await server.close()
  })
})
