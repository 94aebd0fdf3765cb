import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { randomChunkings } from '@proto/framing/testing'
import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeFrame } from '../src/codec.ts'
import { DEFAULT_MAX_BUFFERED_BYTES } from '../src/constants.ts'
import { ErrorCode } from '../src/errors.ts'
import type { TejFrame, TejIncomingFrame } from '../src/types.ts'
import { connectionPair, hex, pseudoRandomBytes, readAll, wire } from './helpers.ts'

const bytesOf = (frame: Partial<TejFrame>): Buffer =>
  Buffer.from(encodeFrame({ status: frame.status ?? 0, files: frame.files ?? [], message: frame.message ?? Buffer.alloc(0) }))

const text = (bytes: Uint8Array | undefined): string => Buffer.from(bytes ?? []).toString('utf8')

/** Frames from the iterator, buffered, until `count` have come. */
async function take(frames: AsyncIterator<TejIncomingFrame>, count: number): Promise<TejFrame[]> {
  const out: TejFrame[] = []
  while (out.length < count) {
    const next = await frames.next()
    if (next.done === true) return expect.unreachable(`ended after ${out.length} frames`)
    out.push(await next.value.buffer())
  }
  return out
}

describe('receiving', () => {
  it.each([
    'tej_message_only/client/0',
    'tej_one_file/server/0',
    'tej_several_files_and_message/client/0',
    'tej_empty_frame/server/0',
    'tej_custom_status_127/server/0',
    'tej_custom_status_200_overflow/client/0',
    'tej_unicode_message/client/0',
    'tej_empty_filename/server/0',
    'tej_large_file_100000/server/0',
    'tej_raw_byte_by_byte/server/0',
  ])('delivers %s as the frame it encodes', async (name) => {
    const { conn, peer } = connectionPair()
    peer.write(wire(name))
    const [frame] = await take(conn[Symbol.asyncIterator](), 1)
    expect(hex(encodeFrame(frame ?? expect.unreachable()))).toBe(hex(wire(name)))
    expect(frame?.files.map((f) => f.name)).toEqual(decodeFrame(wire(name)).frame.files.map((f) => f.name))
  })

  it('reassembles a frame written one byte at a time', async () => {
    const { conn, peer } = connectionPair()
    for (const byte of wire('tej_raw_byte_by_byte/server/0')) peer.write(Uint8Array.of(byte))
    const [frame] = await take(conn[Symbol.asyncIterator](), 1)
    expect(frame).toMatchObject({ status: 9, files: [{ name: 'frag.txt' }] })
    expect(text(frame?.message)).toBe('slow')
  })

  it('buffers files that come in pieces of any size byte for byte, blocks and all', async () => {
    const data = pseudoRandomBytes(150_000, 7)
    const bytes = bytesOf({ files: [{ name: 'big', data }, { name: 'small', data: data.subarray(0, 10) }], message: data.subarray(0, 100) })
    for (const [i, chunks] of randomChunkings(bytes, 11, 4).entries()) {
      const { conn, peer } = connectionPair()
      for (const chunk of chunks) peer.write(chunk)
      const [frame] = await take(conn[Symbol.asyncIterator](), 1)
      expect(hex(encodeFrame(frame ?? expect.unreachable())), `chunking ${i}`).toBe(hex(bytes))
    }
  })

  it('delivers two frames from one write, in order', async () => {
    const { conn, peer } = connectionPair()
    peer.write(Buffer.concat([wire('tej_two_frames_back_to_back/server/0'), wire('tej_two_frames_back_to_back/server/1')]))
    const frames = await take(conn[Symbol.asyncIterator](), 2)
    expect(frames.map((f) => text(f.message))).toEqual(['first', 'second'])
    expect(frames[1]?.files.map((f) => text(f.data))).toEqual(['2'])
  })

  it('emits pings (status 2, with or without content) as ping events, never as frames', async () => {
    const { conn, peer } = connectionPair()
    const pings: TejFrame[] = []
    conn.on('ping', (ping) => pings.push(ping))
    peer.write(
      Buffer.concat([
        wire('tej_custom_status_2_ping/client/0'),
        wire('tej_ping_frame_from_Ping_class/client/0'),
        wire('tej_message_only/client/0'),
      ]),
    )
    const [frame] = await take(conn[Symbol.asyncIterator](), 1)
    expect(text(frame?.message)).toBe('hello')
    expect(pings.map((p) => [p.status, text(p.message)])).toEqual([
      [2, 'ping with msg'],
      [2, ''],
    ])
  })

  it('reads pings while no one iterates, and sends no pong', async () => {
    const { conn, peer } = connectionPair()
    peer.write(wire('tej_ping_frame_from_Ping_class/client/0'))
    const [ping] = (await once(conn, 'ping')) as [TejFrame]
    expect(ping.status).toBe(2)
    expect(peer.readableLength).toBe(0)
  })

  it.each([
    ['tej_protocol_version_0/client/0', ErrorCode.UNSUPPORTED_VERSION],
    ['tej_protocol_version_2/server/0', ErrorCode.UNSUPPORTED_VERSION],
    ['tej_protocol_version_255/client/0', ErrorCode.UNSUPPORTED_VERSION],
    ['tej_protocol_version_255/server/0', ErrorCode.UNSUPPORTED_VERSION],
    ['tej_raw_invalid_status_bit/client/0', ErrorCode.BAD_STATUS_BIT],
    ['tej_nonascii_filename_e_acute/client/0', ErrorCode.FILE_TOO_LARGE],
    ['tej_nonascii_filename_cjk/client/0', ErrorCode.FILE_TOO_LARGE],
  ])('closes on %s with %s; the iterator rejects with ERR_TEJ_CLOSED', async (name, code) => {
    const { conn, peer, ended } = connectionPair()
    const frames = conn[Symbol.asyncIterator]()
    const pending = frames.next()
    peer.write(wire(name))
    const next = await pending.then(
      (result) => (result.done === true ? expect.unreachable() : result.value),
      (err: unknown) => err,
    )
    // A bad file length comes after the frame head: the frame is delivered and its read fails.
    if (code === ErrorCode.FILE_TOO_LARGE) {
      await expect((next as TejIncomingFrame).message()).rejects.toMatchObject({ code })
      await expect(frames.next()).rejects.toMatchObject({ code: ErrorCode.CLOSED, cause: { code } })
    } else expect(next).toMatchObject({ code: ErrorCode.CLOSED, cause: { code } })
    expect(await ended).toMatchObject({ code })
    expect(conn.signal.aborted).toBe(true)
  })

  it('rejects a name that is not UTF-8 with ERR_TEJ_BAD_NAME and closes', async () => {
    const { conn, peer, ended } = connectionPair({ handler: (frame) => frame.message().then(() => undefined) })
    const bytes = bytesOf({ files: [{ name: 'ok', data: Buffer.from('x') }] })
    bytes[12] = 0xc3
    bytes[13] = 0x28
    peer.write(bytes)
    expect(await ended).toMatchObject({ code: ErrorCode.BAD_NAME })
    expect(conn.signal.reason).toMatchObject({ code: ErrorCode.BAD_NAME })
  })

  it('fails a frame cut by FIN with ERR_TEJ_TRUNCATED (tej_raw_truncated_frame)', async () => {
    const { conn, peer, ended } = connectionPair()
    const frames = conn[Symbol.asyncIterator]()
    peer.end(wire('tej_raw_truncated_frame/client/0'))
    const first = await frames.next()
    const frame = first.done === true ? expect.unreachable() : first.value
    await expect(frame.buffer()).rejects.toMatchObject({ code: ErrorCode.TRUNCATED })
    expect(await ended).toMatchObject({ code: ErrorCode.TRUNCATED })
  })

  it('ends the iterator at a FIN between frames and closes cleanly', async () => {
    const { conn, peer, ended } = connectionPair()
    peer.end(wire('tej_message_only/client/0'))
    peer.resume()
    const messages: string[] = []
    for await (const frame of conn) messages.push(text(await frame.message()))
    expect(messages).toEqual(['hello'])
    expect(await ended).toBeUndefined()
    await conn.closed
  })
})

describe('streamed files', () => {
  const threeFiles = bytesOf({
    status: 4,
    files: [
      { name: 'one', data: Buffer.from('first file') },
      { name: 'two', data: Buffer.alloc(200_000, 2) },
      { name: 'three', data: Buffer.from('third') },
    ],
    message: Buffer.from('msg'),
  })

  it('hands files out in wire order as streams, with name, size and index', async () => {
    const { conn, peer } = connectionPair()
    peer.write(threeFiles)
    for await (const frame of conn) {
      expect([frame.status, frame.fileCount]).toEqual([4, 3])
      const seen: unknown[] = []
      for await (const file of frame.files()) {
        const data = await readAll(file)
        seen.push([file.index, file.name, file.size, data.length])
      }
      expect(seen).toEqual([
        [0, 'one', 10, 10],
        [1, 'two', 200_000, 200_000],
        [2, 'three', 5, 5],
      ])
      expect(text(await frame.message())).toBe('msg')
      break
    }
  })

  it('offers readable(), bytes() and skip() on a file', async () => {
    const { conn, peer } = connectionPair()
    peer.write(threeFiles)
    for await (const frame of conn) {
      const files = frame.files()[Symbol.asyncIterator]()
      const one = (await files.next()).value ?? expect.unreachable()
      expect(text(await one.bytes())).toBe('first file')
      const two = (await files.next()).value ?? expect.unreachable()
      expect((await readAll(two.readable())).equals(Buffer.alloc(200_000, 2))).toBe(true)
      const three = (await files.next()).value ?? expect.unreachable()
      await three.skip()
      await expect(three.bytes()).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
      expect((await files.next()).done).toBe(true)
      expect(text(await frame.message())).toBe('msg')
      break
    }
  })

  it('skips what is left of a file when the next one is asked for', async () => {
    const { conn, peer } = connectionPair()
    peer.write(threeFiles)
    for await (const frame of conn) {
      const names: string[] = []
      for await (const file of frame.files()) names.push(file.name)
      expect(names).toEqual(['one', 'two', 'three'])
      expect(text(await frame.message())).toBe('msg')
      break
    }
  })

  it('message() skips the files not read; leaving the files loop early skips the rest', async () => {
    const { conn, peer } = connectionPair()
    peer.write(Buffer.concat([threeFiles, threeFiles]))
    const frames = conn[Symbol.asyncIterator]()
    const first = (await frames.next()).value ?? expect.unreachable()
    expect(text(await first.message())).toBe('msg')
    const second = (await frames.next()).value ?? expect.unreachable()
    for await (const file of second.files()) {
      expect(file.name).toBe('one')
      break
    }
    expect(text(await second.message())).toBe('msg')
  })

  it('discards what the consumer left unread when it moves to the next frame', async () => {
    const { conn, peer } = connectionPair()
    peer.write(Buffer.concat([threeFiles, wire('tej_message_only/client/0')]))
    const frames = conn[Symbol.asyncIterator]()
    const first = (await frames.next()).value ?? expect.unreachable()
    const second = (await frames.next()).value ?? expect.unreachable()
    expect(text(await second.message())).toBe('hello')
    await expect(first.message()).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
  })

  it('discards what the handler left unread when it settles', async () => {
    const seen: string[] = []
    const { conn, peer } = connectionPair({
      handler: async (frame) => {
        if (frame.fileCount === 0) seen.push(text(await frame.message()))
        else seen.push(`${frame.fileCount} files, unread`)
      },
    })
    peer.write(Buffer.concat([threeFiles, wire('tej_message_only/client/0')]))
    peer.end()
    await conn.closed
    expect(seen).toEqual(['3 files, unread', 'hello'])
  })

  it('refuses buffer() once the frame has been read from', async () => {
    const { conn, peer } = connectionPair()
    peer.write(threeFiles)
    for await (const frame of conn) {
      await frame.message()
      await expect(frame.buffer()).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
      break
    }
  })
})

describe('buffering limits', () => {
  it('defaults to 64 MiB, checked against declared sizes before any data arrives', async () => {
    expect(DEFAULT_MAX_BUFFERED_BYTES).toBe(64 * 1024 * 1024)
    const { conn, peer } = connectionPair()
    // Only the head of the file is written: the check must not wait for the data.
    const declare = (size: number): Buffer => {
      const bytes = bytesOf({ files: [{ name: 'f', data: Buffer.alloc(0) }] }).subarray(0, 10 + 2 + 1 + 8)
      bytes.writeBigUInt64BE(BigInt(size), 13)
      return bytes
    }
    peer.write(declare(DEFAULT_MAX_BUFFERED_BYTES + 1))
    const frames = conn[Symbol.asyncIterator]()
    const first = (await frames.next()).value ?? expect.unreachable()
    await expect(first.buffer()).rejects.toMatchObject({ code: ErrorCode.BUFFER_LIMIT, limit: DEFAULT_MAX_BUFFERED_BYTES })
  })

  it('rejects buffer() past maxBufferedBytes before reading, and delivers the next frame', async () => {
    const { conn, peer } = connectionPair({ limits: { maxBufferedBytes: 100 } })
    const big = bytesOf({ files: [{ name: 'a', data: Buffer.alloc(60) }, { name: 'b', data: Buffer.alloc(41) }] })
    const fits = bytesOf({ files: [{ name: 'a', data: Buffer.alloc(60) }, { name: 'b', data: Buffer.alloc(40) }] })
    peer.write(Buffer.concat([big, fits, wire('tej_message_only/client/0')]))
    const frames = conn[Symbol.asyncIterator]()
    const first = (await frames.next()).value ?? expect.unreachable()
    await expect(first.buffer()).rejects.toMatchObject({ code: ErrorCode.BUFFER_LIMIT, limit: 100, declared: 101 })
    await expect(first.message()).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    const second = (await frames.next()).value ?? expect.unreachable()
    expect((await second.buffer()).files.map((f) => f.data.length)).toEqual([60, 40])
    const third = (await frames.next()).value ?? expect.unreachable()
    expect(text((await third.buffer()).message)).toBe('hello')
  })

  it('counts the message against maxBufferedBytes in buffer()', async () => {
    const { conn, peer } = connectionPair({ limits: { maxBufferedBytes: 10 } })
    peer.write(Buffer.concat([bytesOf({ files: [{ name: 'a', data: Buffer.alloc(6) }], message: Buffer.alloc(5) }), wire('tej_message_only/client/0')]))
    const frames = conn[Symbol.asyncIterator]()
    await expect(((await frames.next()).value ?? expect.unreachable()).buffer()).rejects.toMatchObject({ code: ErrorCode.BUFFER_LIMIT })
    expect(text(await ((await frames.next()).value ?? expect.unreachable()).message())).toBe('hello')
  })

  it('rejects file.bytes() past maxBufferedBytes and keeps the connection', async () => {
    const { conn, peer } = connectionPair({ limits: { maxBufferedBytes: 10 } })
    peer.write(Buffer.concat([bytesOf({ files: [{ name: 'a', data: Buffer.alloc(11) }] }), wire('tej_message_only/client/0')]))
    const frames = conn[Symbol.asyncIterator]()
    const first = (await frames.next()).value ?? expect.unreachable()
    for await (const file of first.files()) {
      await expect(file.bytes()).rejects.toMatchObject({ code: ErrorCode.BUFFER_LIMIT })
      break
    }
    await expect(first.message()).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    expect(text(await ((await frames.next()).value ?? expect.unreachable()).message())).toBe('hello')
  })

  it('closes the connection on a ping over maxBufferedBytes', async () => {
    const { peer, ended } = connectionPair({ limits: { maxBufferedBytes: 4 } })
    peer.write(wire('tej_custom_status_2_ping/client/0'))
    expect(await ended).toMatchObject({ code: ErrorCode.BUFFER_LIMIT })
  })
})

describe('handlers', () => {
  it('reports a throwing handler as handlerError, discards the rest and keeps the connection', async () => {
    const seen: string[] = []
    const { conn, peer } = connectionPair({
      handler: async (frame) => {
        if (frame.status === 9) throw new Error('handler failed')
        seen.push(text(await frame.message()))
      },
    })
    const errors: unknown[] = []
    const contexts: unknown[] = []
    conn.on('handlerError', (err, ctx) => {
      contexts.push(ctx.connection)
      errors.push(err)
    })
    peer.write(Buffer.concat([wire('tej_raw_byte_by_byte/server/0'), wire('tej_message_only/client/0')]))
    peer.end()
    await conn.closed
    expect(errors).toMatchObject([{ message: 'handler failed' }])
    expect(contexts).toEqual([conn])
    expect(seen).toEqual(['hello'])
  })

  it('reports a throwing ping listener as handlerError', async () => {
    const { conn, peer } = connectionPair()
    conn.on('ping', () => {
      throw new Error('listener failed')
    })
    const failed = once(conn, 'handlerError')
    peer.write(wire('tej_ping_frame_from_Ping_class/client/0'))
    expect((await failed)[0]).toMatchObject({ message: 'listener failed' })
  })

  it('cannot be iterated with a handler set, nor twice', () => {
    const withHandler = connectionPair({ handler: () => undefined }).conn
    expect(() => withHandler[Symbol.asyncIterator]()).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    const { conn } = connectionPair()
    conn[Symbol.asyncIterator]()
    expect(() => conn[Symbol.asyncIterator]()).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it('discards later frames once the consumer leaves the loop, still emitting pings', async () => {
    const { conn, peer } = connectionPair()
    peer.write(wire('tej_message_only/client/0'))
    for await (const frame of conn) {
      expect(text(await frame.message())).toBe('hello')
      break
    }
    const pinged = once(conn, 'ping')
    peer.write(Buffer.concat([threeFilesFrame(), wire('tej_ping_frame_from_Ping_class/client/0')]))
    await pinged
  })

  it('never touches the disk with a received name', async () => {
    const name = `../tej-should-not-exist-${process.pid}`
    const { conn, peer } = connectionPair()
    peer.write(bytesOf({ files: [{ name, data: Buffer.from('x') }] }))
    for await (const frame of conn) {
      expect((await frame.buffer()).files[0]?.name).toBe(name)
      break
    }
    expect(existsSync(join(process.cwd(), name))).toBe(false)
  })
})

function threeFilesFrame(): Buffer {
  return bytesOf({ files: [{ name: 'x', data: Buffer.alloc(100) }] })
}
