import { Buffer } from 'node:buffer'
import net from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { connect } from '../src/client.ts'
import { decodeFrame, encodeResponse } from '../src/codec.ts'
import type { KarpConnection } from '../src/types.ts'
import { RawClient, deferred, meaning, wire } from './helpers.ts'

// The other side of these tests plays the original Python server: it answers with the captured
// bytes, only the request id changed to the one our client drew (ids are random on both sides).

/** A vector's bytes with its id replaced: everything else stays as the original sent it. */
function withId(name: string, id: string): Buffer {
  const original = meaning(name).request_id ?? expect.unreachable(`${name} has no id`)
  const text = wire(name).toString('latin1')
  expect(text.split(original)).toHaveLength(2)
  return Buffer.from(text.replace(original, id), 'latin1')
}

let listener: net.Server
let sockets: Promise<RawClient>
let client: KarpConnection

beforeEach(async () => {
  const accepted = deferred<RawClient>()
  sockets = accepted.promise
  listener = net.createServer({ allowHalfOpen: true }, (socket) => accepted.resolve(new RawClient(socket)))
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const { port } = listener.address() as net.AddressInfo
  client = await connect({ port, handlers: { ping: (request) => `pong(${request.text})` } })
})

afterEach(async () => {
  await client.close({ signal: AbortSignal.abort() })
  ;(await sockets).destroy()
  await new Promise((resolve) => listener.close(resolve))
})

describe('our client against the original server bytes', () => {
  it('sends what the original client sent and reads what the original server answered', async () => {
    const server = await sockets
    const reply = client.request('ECHO', 'hello')
    const sent = await server.line()
    const { id } = decodeFrame(sent)
    expect(sent).toEqual(withId('karp_simple_echo/client/0', id))
    await server.write(withId('karp_simple_echo/server/0', id))
    expect((await reply).text()).toBe('hello')
  })

  it('reads a 7000-byte reply', async () => {
    const server = await sockets
    const payload = 'm'.repeat(7000)
    const reply = client.request('echo', payload)
    const sent = await server.line()
    const { id } = decodeFrame(sent)
    expect(sent).toEqual(withId('karp_medium_7000/client/0', id))
    await server.write(withId('karp_medium_7000/server/0', id))
    expect((await reply).text()).toBe(payload)
  })

  it.each([
    ['karp_handler_exception/server/0', 'boom'],
    ['karp_route_registered_uppercase/server/0', "'upper'"],
  ])('turns the failure %s into a RemoteError', async (name, message) => {
    const server = await sockets
    const reply = client.request('upper', 'data')
    const { id } = decodeFrame(await server.line())
    await server.write(withId(name, id))
    await expect(reply).rejects.toMatchObject({ code: 'ERR_KARP_REMOTE', id, message })
  })

  it('reads an empty reply', async () => {
    const server = await sockets
    const reply = client.request('none')
    const { id } = decodeFrame(await server.line())
    await server.write(withId('karp_handler_returns_none/server/0', id))
    expect((await reply).data).toHaveLength(0)
  })

  it('matches replies that come back in another order, in one write', async () => {
    const server = await sockets
    const two = client.request('echo', 'two')
    const three = client.request('get_user', 'three')
    const sent = [decodeFrame(await server.line()), decodeFrame(await server.line())]
    const [idTwo, idThree] = sent.map((frame) => frame.id)
    await server.write(
      Buffer.concat([withId('karp_pipelined_three/server/2', idThree ?? ''), withId('karp_pipelined_three/server/1', idTwo ?? '')]),
    )
    expect((await two).text()).toBe('two')
    expect((await three).text()).toBe('user:three')
  })

  it('answers a request the original server sends it, as the original client did', async () => {
    const server = await sockets
    await server.write(wire('karp_server_to_client_request/server/0'))
    expect(await server.line()).toEqual(
      Buffer.from(encodeResponse({ id: '3159599359962144', success: true, data: 'pong(from-server:x)' })),
    )
  })

  it('answers the original request vector for an unknown route as the original does', async () => {
    const server = await sockets
    await server.write(wire('karp_unknown_route/client/0'))
    expect(await server.line()).toEqual(Buffer.from(encodeResponse({ id: '9174002975504736', success: false, data: "'nosuch'" })))
  })
})
