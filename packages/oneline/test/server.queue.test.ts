import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_QUEUE } from '../src/constants.ts'
import { ErrorCode } from '../src/errors.ts'
import type { OnelineContext } from '../src/types.ts'
import { closed, Flood, Resources, until, vectorHandler, wire } from './helpers.ts'
import type { RawClient } from './helpers.ts'

const res = new Resources()
afterEach(() => res.close())

const MiB = 1_048_576

/** Ways a waiting client goes away. */
const leaving: Record<string, (c: RawClient) => void> = {
  reset: (c) => c.socket.resetAndDestroy(),
  FIN: (c) => c.socket.end(),
  destroy: (c) => c.socket.destroy(),
  'a ping, then a reset': (c) => {
    c.write(wire('ping_request'))
    c.socket.resetAndDestroy()
  },
  'complete commands, then FIN': (c) => c.socket.end('ping\ncmd01\n'),
}

describe('a client that leaves the queue', () => {
  it.each(Object.keys(leaving))('frees its place at once when it leaves with %s', async (how) => {
    const leave = leaving[how] ?? expect.unreachable(how)
    const { server, port } = await res.server()
    const errors: unknown[] = []
    server.on('clientError', (err) => errors.push(err))
    const active = await res.socket(port)
    active.write(wire('ping_request'))
    await active.bytes(5)

    const gone = await Promise.all(Array.from({ length: DEFAULT_MAX_QUEUE }, () => res.socket(port)))
    await until(() => server.queued === DEFAULT_MAX_QUEUE, 'the first clients queued')
    for (const c of gone) leave(c)
    // The active client is still being served: only leaving can have emptied the queue.
    await until(() => server.queued === 0, 'the queue emptied')
    expect(server.active?.port).toBe(active.socket.localPort)

    // A full queue of new clients is taken, none refused; the first one's early ping is answered.
    const first = await res.socket(port)
    const pong = first.bytes(5)
    first.write(wire('ping_request'))
    await Promise.all(Array.from({ length: DEFAULT_MAX_QUEUE - 1 }, () => res.socket(port)))
    await until(() => server.queued === DEFAULT_MAX_QUEUE, 'the new clients queued')
    expect(errors).toEqual([])
    active.write(wire('disconnect_request'))
    expect(await pong).toEqual(wire('ping_response'))
    expect(server.active?.port).toBe(first.socket.localPort)
  })

  it('drops a client that half-closes while it waits, complete commands and all', async () => {
    const calls: string[] = []
    const { server, port } = await res.server({
      handler: (command: string, ctx: OnelineContext) => {
        calls.push(command)
        return vectorHandler(command, ctx)
      },
    })
    const active = await res.socket(port)
    active.write(wire('ping_request'))
    await active.bytes(5)
    const halfClosed = await res.socket(port)
    await until(() => server.queued === 1, 'queued')
    halfClosed.socket.end('ping\ncmd01\n')
    await until(() => server.queued === 0, 'the half-closed client left')
    // Closed while the active client is still served, with no answer.
    expect(await halfClosed.rest()).toHaveLength(0)
    expect(server.active?.port).toBe(active.socket.localPort)
    const after = await res.socket(port)
    after.write(wire('ping_request'))
    active.write(wire('disconnect_request'))
    expect(await after.bytes(5)).toEqual(wire('ping_response'))
    expect(calls).toEqual([])
  })

  it('reads a waiting client that floods no further than one line, then closes it for that line at its turn', async () => {
    const { server, port } = await res.server()
    const active = await res.socket(port)
    active.write(wire('ping_request'))
    await active.bytes(5)
    const flooder = await res.socket(port)
    await until(() => server.queued === 1, 'the flooder queued')

    const total = 64 * MiB
    const before = process.memoryUsage().arrayBuffers
    // One reused chunk: the flooder's own memory stays flat, so growth is what the server keeps.
    const flood = new Flood(flooder.socket, Buffer.alloc(65_536, 0x61), total)
    await flood.stalled()
    const growth = process.memoryUsage().arrayBuffers - before
    // Kernel buffers take some MiB; the server itself reads about one line and stops.
    expect(flood.flushed).toBeLessThan(total)
    expect(growth).toBeLessThan(8 * MiB)
    expect(server.queued).toBe(1)

    const after = await res.socket(port)
    after.write(wire('ping_request'))
    const reported = once(server, 'clientError')
    active.write(wire('disconnect_request'))
    const [err, peer] = await reported
    expect(err).toMatchObject({ code: ErrorCode.LINE_TOO_LONG, limit: DEFAULT_MAX_LINE_BYTES })
    expect(peer).toMatchObject({ port: flooder.socket.localPort })
    expect(await after.bytes(5)).toEqual(wire('ping_response'))
  })

  it('answers the commands a waiting client sent before a line over maxLineBytes, then closes it', async () => {
    const { server, port } = await res.server({ handler: vectorHandler, limits: { maxLineBytes: 16 } })
    const active = await res.socket(port)
    active.write(wire('ping_request'))
    await active.bytes(5)
    const waiting = await res.socket(port)
    const reply = waiting.rest()
    waiting.write(`cmd01\n${'x'.repeat(17)}\nping\n`)
    await until(() => server.queued === 1, 'queued')
    const reported = once(server, 'clientError')
    active.write(wire('disconnect_request'))
    const [err] = await reported
    expect(err).toMatchObject({ code: ErrorCode.LINE_TOO_LONG, limit: 16 })
    expect((await reply).toString()).toBe('ack\n')
  })

  it('closes waiting clients on close(), those that sent a command and those no longer read', async () => {
    const { server, port } = await res.server()
    const active = await res.socket(port)
    active.write(wire('ping_request'))
    await active.bytes(5)
    const pinged = await res.socket(port)
    pinged.write(wire('ping_request'))
    const flooder = await res.socket(port)
    const flood = new Flood(flooder.socket, Buffer.alloc(65_536, 0x61), 64 * MiB)
    await flood.stalled()
    await until(() => server.queued === 2, 'both queued')
    await server.close()
    expect(server.queued).toBe(0)
    // Closed without a turn: no answer to the ping, just the end.
    expect(await pinged.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    expect(await flooder.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    await closed(flooder.socket)
  })
})
