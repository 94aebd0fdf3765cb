import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import net from 'node:net'
import { ByteReader } from '@proto/framing'
import { silentServer } from '@proto/framing/testing'
import { afterEach, describe, expect, it } from 'vitest'
import type { PeerInfo, ProtoError } from '@proto/framing'
import { connect } from '../src/client.ts'
import { encodeFrame } from '../src/codec.ts'
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT } from '../src/constants.ts'
import { echoHandler } from '../src/demo.ts'
import { ErrorCode } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { TejConnection, TejContext, TejServer, TejServerOptions } from '../src/types.ts'
import { frameHead, gate, hex, u16, u64, wire } from './helpers.ts'

const servers: TejServer[] = []
const sockets: net.Socket[] = []

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await Promise.all(servers.splice(0).map((s) => s.close({ signal: AbortSignal.abort() })))
})

/** An echo server like the CLI's, on 127.0.0.1 and a free port. */
async function echoServer(options: TejServerOptions = {}): Promise<{ server: TejServer; port: number }> {
  const server = createServer({ handler: echoHandler, ...options })
  servers.push(server)
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  return { server, port }
}

/** A raw socket, as the Python original would open. */
async function rawClient(port: number): Promise<{ socket: net.Socket; reader: ByteReader }> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true })
  sockets.push(socket)
  await once(socket, 'connect')
  return { socket, reader: new ByteReader(socket) }
}

const echoedVectors = [
  'tej_message_only/client/0',
  'tej_several_files_and_message/client/0',
  'tej_empty_frame/client/0',
  'tej_custom_status_0_explicit/client/0',
  'tej_custom_status_5/client/0',
  'tej_custom_status_200_overflow/client/0',
  'tej_unicode_message/client/0',
  'tej_two_frames_back_to_back/client/0',
]

describe('with a peer that speaks like the original', () => {
  it.each(echoedVectors)('echoes %s byte for byte', async (name) => {
    const { port } = await echoServer()
    const { socket, reader } = await rawClient(port)
    const bytes = wire(name)
    socket.write(bytes)
    expect(await reader.bytes(bytes.length)).toEqual(bytes)
  })

  it('answers with the bytes the original server sent', async () => {
    const { port } = await echoServer()
    const { socket, reader } = await rawClient(port)
    for (const name of ['tej_message_only', 'tej_custom_status_5', 'tej_unicode_message', 'tej_empty_frame']) {
      socket.write(wire(`${name}/client/0`))
      const reply = wire(`${name}/server/0`)
      expect(await reader.bytes(reply.length)).toEqual(reply)
    }
  })

  it('reads what the original server sends, however it is cut', async () => {
    const raw = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.write(Buffer.concat([wire('tej_two_frames_back_to_back/server/0'), wire('tej_two_frames_back_to_back/server/1')]))
      const slow = wire('tej_raw_byte_by_byte/server/0')
      const writeByte = (i: number): void => {
        if (i === slow.length) {
          socket.end(wire('tej_large_file_100000/server/0'))
          return
        }
        socket.write(slow.subarray(i, i + 1), () => {
          writeByte(i + 1)
        })
      }
      writeByte(0)
    })
    raw.listen(0, '127.0.0.1')
    await once(raw, 'listening')
    const conn = await connect({ host: '127.0.0.1', port: (raw.address() as net.AddressInfo).port })
    const received: string[] = []
    for await (const frame of conn) received.push(hex(encodeFrame(await frame.buffer())))
    raw.close()
    expect(received).toEqual(
      [
        'tej_two_frames_back_to_back/server/0',
        'tej_two_frames_back_to_back/server/1',
        'tej_raw_byte_by_byte/server/0',
        'tej_large_file_100000/server/0',
      ].map((name) => hex(wire(name))),
    )
    await conn.closed
  })

  it('sends nothing back for a ping, as the original', async () => {
    const { server, port } = await echoServer()
    const pinged = new Promise<unknown>((resolve) => {
      server.once('connection', (conn) => conn.once('ping', resolve))
    })
    const { socket, reader } = await rawClient(port)
    socket.write(wire('tej_custom_status_2_ping/client/0'))
    expect(await pinged).toMatchObject({ status: 2 })
    socket.end(wire('tej_message_only/client/0'))
    const reply = wire('tej_message_only/server/0')
    expect(await reader.bytes(reply.length)).toEqual(reply)
    expect(await reader.atEnd()).toBe(true)
  })
})

describe('bad peers', () => {
  it('reports a name of control bytes without them', async () => {
    const { server, port } = await echoServer()
    const reported = once(server, 'clientError') as Promise<[ProtoError]>
    const { socket } = await rawClient(port)
    const name = Buffer.from('\u001b]0;pwned\u0007\u001b[2J\xff', 'latin1')
    socket.write(Buffer.concat([frameHead(1n), u16(name.length), name, u64(0n), u64(0n)]))
    const [err] = await reported
    expect(err).toMatchObject({ code: ErrorCode.BAD_NAME, message: 'file name is not valid UTF-8' })
  })

  it.each([
    ['tej_protocol_version_0/client/0', ErrorCode.UNSUPPORTED_VERSION],
    ['tej_protocol_version_255/client/0', ErrorCode.UNSUPPORTED_VERSION],
    ['tej_raw_invalid_status_bit/client/0', ErrorCode.BAD_STATUS_BIT],
    ['tej_nonascii_filename_e_acute/client/0', ErrorCode.FILE_TOO_LARGE],
    ['tej_nonascii_filename_cjk/client/0', ErrorCode.FILE_TOO_LARGE],
  ])('closes a peer sending %s, reports %s, and leaves other peers alone', async (name, code) => {
    const { server, port } = await echoServer()
    const reported = once(server, 'clientError') as Promise<[ProtoError, TejConnection]>
    const good = await rawClient(port)
    const bad = await rawClient(port)
    bad.socket.write(wire(name))
    const [err, conn] = await reported
    expect(err).toMatchObject({ code })
    // No message repeats the peer's bytes, so none can carry terminal control sequences.
    expect(err.message).toMatch(/^[\x20-\x7e]+$/)
    expect(conn.remote).toEqual({ address: '127.0.0.1', port: bad.socket.localPort })
    expect(await bad.reader.atEnd()).toBe(true)
    const bytes = wire('tej_message_only/client/0')
    good.socket.write(bytes)
    expect(await good.reader.bytes(bytes.length)).toEqual(bytes)
  })

  it('reports ERR_TEJ_TRUNCATED for a peer that ends mid-frame (tej_raw_truncated_frame)', async () => {
    const { server, port } = await echoServer()
    const reported = once(server, 'clientError') as Promise<[ProtoError]>
    const { socket } = await rawClient(port)
    socket.end(wire('tej_raw_truncated_frame/client/0'))
    expect((await reported)[0]).toMatchObject({ code: ErrorCode.TRUNCATED })
  })

  it('reports a frame cut short once, as clientError, though the handler reading it fails too', async () => {
    const failures: unknown[] = []
    const { server, port } = await echoServer()
    server.on('handlerError', (err) => failures.push(err))
    const reported = once(server, 'clientError') as Promise<[ProtoError, TejConnection]>
    const { socket } = await rawClient(port)
    socket.end(wire('tej_large_file_100000/server/0').subarray(0, 50_000))
    const [err, conn] = await reported
    expect(err).toMatchObject({ code: ErrorCode.TRUNCATED })
    await conn.closed
    await server.close()
    expect(failures).toEqual([])
  })

  it('reports ERR_TEJ_TRUNCATED for a peer that stops mid-file', async () => {
    const { server, port } = await echoServer()
    const reported = once(server, 'clientError') as Promise<[ProtoError]>
    const { socket } = await rawClient(port)
    const frame = wire('tej_large_file_100000/server/0')
    socket.end(frame.subarray(0, 50_000))
    expect((await reported)[0]).toMatchObject({ code: ErrorCode.TRUNCATED })
  })

  it('closes connections past maxConnections with ERR_TEJ_TOO_MANY_CONNECTIONS', async () => {
    const { server, port } = await echoServer({ limits: { maxConnections: 1 } })
    const accepted = once(server, 'connection')
    const first = await rawClient(port)
    await accepted
    const opened: TejConnection[] = []
    server.on('connection', (conn) => opened.push(conn))
    const reported = once(server, 'clientError') as Promise<[ProtoError, PeerInfo]>
    const second = await rawClient(port)
    const [err, peer] = await reported
    expect(err).toMatchObject({ code: ErrorCode.TOO_MANY_CONNECTIONS, limit: 1 })
    // Refused before any connection object was built for it: the peer is its address alone.
    expect(peer).toEqual({ address: '127.0.0.1', port: second.socket.localPort })
    expect(opened).toEqual([])
    expect(await second.reader.atEnd()).toBe(true)
    expect(server.connections.size).toBe(1)
    const bytes = wire('tej_message_only/client/0')
    first.socket.write(bytes)
    expect(await first.reader.bytes(bytes.length)).toEqual(bytes)
  })

  it('defaults maxConnections to 1024 and refuses a bad value', () => {
    expect(DEFAULT_MAX_CONNECTIONS).toBe(1024)
    expect(() => createServer({ limits: { maxConnections: 0 } })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => createServer({ limits: { idleTimeout: -1 } })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it('reports a throwing handler as handlerError and keeps the connection', async () => {
    let calls = 0
    const server = createServer().handle(async (frame, ctx) => {
      calls += 1
      if (calls === 1) throw new Error('first one fails')
      await ctx.connection.send(await frame.buffer())
    })
    servers.push(server)
    const { port } = await server.listen({ port: 0 })
    const failed = once(server, 'handlerError') as Promise<[unknown, TejContext]>
    const client = await connect({ port })
    await client.send({ message: 'one' })
    const [err, ctx] = await failed
    expect(err).toMatchObject({ message: 'first one fails' })
    expect(ctx.remote).toBe(ctx.connection.remote)
    expect(ctx.remote.address).toBe('127.0.0.1')
    expect(server.connections.has(ctx.connection)).toBe(true)
    await client.send({ message: 'two' })
    for await (const frame of client) {
      expect(Buffer.from(await frame.message()).toString()).toBe('two')
      break
    }
    await client.close()
  })
})

describe('server and client lifecycle', () => {
  it('listens on port 8000 by default', () => {
    expect(DEFAULT_PORT).toBe(8000)
  })

  it('emits connection and tracks open connections', async () => {
    const { server, port } = await echoServer()
    const accepted = once(server, 'connection') as Promise<[TejConnection]>
    const client = await connect({ port })
    const [conn] = await accepted
    expect(server.connections.has(conn)).toBe(true)
    await client.close()
    await conn.closed
    expect(server.connections.size).toBe(0)
  })

  it('lets a running handler and its send finish on close()', async () => {
    const held = gate()
    const running = gate()
    const server = createServer({
      handler: async (frame, ctx) => {
        running.open()
        await held.promise
        await ctx.connection.send(await frame.buffer())
      },
    })
    const { port } = await server.listen({ port: 0 })
    const client = await connect({ port })
    await client.send({ message: 'slow' })
    await running.promise
    const closing = server.close()
    held.open()
    const messages: string[] = []
    for await (const frame of client) messages.push(Buffer.from(await frame.message()).toString())
    expect(messages).toEqual(['slow'])
    await closing
    await client.closed
  })

  it('destroys what is still open when close() is aborted', async () => {
    const { server, port } = await echoServer()
    const accepted = once(server, 'connection')
    const { socket } = await rawClient(port)
    await accepted
    const controller = new AbortController()
    const closing = server.close({ signal: controller.signal })
    controller.abort()
    await closing
    const ended = once(socket, 'end')
    socket.resume()
    await ended
    expect(server.connections.size).toBe(0)
  })

  it('fails connect with ERR_TEJ_CONNECT when nothing listens', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1')
    await once(probe, 'listening')
    const port = (probe.address() as net.AddressInfo).port
    await new Promise((resolve) => probe.close(resolve))
    await expect(connect({ port })).rejects.toMatchObject({
      code: ErrorCode.CONNECT,
      message: expect.stringMatching(new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: `)),
      cause: { code: 'ECONNREFUSED' },
    })
  })

  it('rejects connect with the abort reason', async () => {
    const reason = new Error('stop')
    await expect(connect({ port: 1, signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    // A TLS handshake the silent peer never answers keeps the connect pending until the abort.
    const silent = await silentServer()
    const controller = new AbortController()
    const connecting = connect({ host: silent.host, port: silent.port, tls: true, signal: controller.signal })
    await silent.accepted()
    controller.abort(reason)
    await expect(connecting).rejects.toBe(reason)
    await silent.close()
  })

  it('rejects listen with the abort reason, or the bind error', async () => {
    const reason = new Error('stop')
    await expect(createServer().listen({ port: 0, signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    const { port } = await echoServer()
    const second = createServer()
    servers.push(second)
    await expect(second.listen({ port })).rejects.toMatchObject({
      code: ErrorCode.LISTEN,
      message: expect.stringContaining(`cannot listen on 127.0.0.1:${port}`),
      cause: { code: 'EADDRINUSE' },
    })
  })

  it('exchanges frames both ways at once between client and server', async () => {
    const server = createServer()
    servers.push(server)
    const { port } = await server.listen({ port: 0 })
    const serverSide = new Promise<string[]>((resolve) => {
      server.once('connection', (conn) => {
        void (async () => {
          const got: string[] = []
          const sending = Promise.all([0, 1, 2].map((i) => conn.send({ message: `s${i}` })))
          for await (const frame of conn) got.push(Buffer.from(await frame.message()).toString())
          await sending
          resolve(got)
        })()
      })
    })
    const client = await connect({ port })
    const sending = Promise.all([0, 1, 2].map((i) => client.send({ message: `c${i}` })))
    const got: string[] = []
    for await (const frame of client) {
      got.push(Buffer.from(await frame.message()).toString())
      if (got.length === 3) break
    }
    await sending
    await client.close()
    expect(got).toEqual(['s0', 's1', 's2'])
    expect(await serverSide).toEqual(['c0', 'c1', 'c2'])
  })
})
