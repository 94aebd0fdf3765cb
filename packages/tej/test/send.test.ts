import { Buffer } from 'node:buffer'
import { getEventListeners } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeFrame, encodeFrame } from '../src/codec.ts'
import { ErrorCode } from '../src/errors.ts'
import type { TejIncomingFrame } from '../src/types.ts'
import { connectionPair, gate, heldSource, hex, pseudoRandomBytes, readAll, slowly, tejPair, tejTcpPair, wire } from './helpers.ts'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)

const vectorsToSend = [
  'tej_message_only/client/0',
  'tej_one_file/server/0',
  'tej_several_files_and_message/client/0',
  'tej_empty_frame/client/0',
  'tej_custom_status_0_explicit/client/0',
  'tej_custom_status_5/client/0',
  'tej_custom_status_127/server/0',
  'tej_custom_status_2_ping/client/0',
  'tej_unicode_message/server/0',
  'tej_empty_filename/server/0',
  'tej_large_file_100000/server/0',
  'tej_two_frames_back_to_back/server/1',
  'tej_raw_byte_by_byte/server/0',
]

let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tej-send-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The message of the first frame `conn` receives. */
async function firstMessage(conn: AsyncIterable<TejIncomingFrame>): Promise<Uint8Array> {
  for await (const frame of conn) return await frame.message()
  return expect.unreachable('no frame')
}

describe('send', () => {
  it.each(vectorsToSend)('writes exactly the bytes of %s', async (name) => {
    const bytes = wire(name)
    const { frame } = decodeFrame(bytes)
    const { conn, reader } = connectionPair()
    const sent = conn.send(frame)
    expect(hex(await reader.bytes(bytes.length))).toBe(hex(bytes))
    await sent
  })

  it('ping() writes exactly the frame of the original Ping helper', async () => {
    const { conn, reader } = connectionPair()
    const expected = wire('tej_ping_frame_from_Ping_class/client/0')
    await Promise.all([conn.ping(), expect(reader.bytes(expected.length)).resolves.toEqual(expected)])
  })

  it.each([128, 200, 300, -1, 2.5])('refuses status %s with ERR_TEJ_INVALID_STATUS and writes nothing', async (status) => {
    const { conn, reader } = connectionPair()
    await expect(conn.send({ status, message: 'x' })).rejects.toMatchObject({ code: ErrorCode.INVALID_STATUS })
    const next = wire('tej_message_only/client/0')
    void conn.send({ message: 'hello' })
    expect(await reader.bytes(next.length)).toEqual(next)
  })

  it.each([
    ['a name over 65 535 UTF-8 bytes', { files: [{ name: 'é'.repeat(32_768), data: 'x' }] }],
    ['a negative size', { files: [{ name: 's', stream: Readable.from([]), size: -1 }] }],
    ['a fractional size', { files: [{ name: 's', stream: Readable.from([]), size: 1.5 }] }],
    ['a size past 2^53 - 1', { files: [{ name: 's', stream: Readable.from([]), size: 2 ** 53 }] }],
    ['a file with no source', { files: [{ name: 's' } as never] }],
    ['data that is not bytes', { files: [{ name: 's', data: 42 } as never] }],
    ['a stream that is not iterable', { files: [{ name: 's', stream: {}, size: 0 } as never] }],
    ['a message that is not bytes', { message: 42 } as never],
  ])('refuses %s with ERR_PROTO_USAGE and writes nothing', async (_case, frame) => {
    const { conn, reader } = connectionPair()
    await expect(conn.send(frame)).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    const next = wire('tej_message_only/client/0')
    void conn.send({ message: 'hello' })
    expect(await reader.bytes(next.length)).toEqual(next)
  })

  it('refuses a path that is missing or not a file, writing nothing', async () => {
    const { conn, reader } = connectionPair()
    await expect(conn.send({ files: [{ name: 'x', path: join(dir, 'missing') }] })).rejects.toMatchObject({
      code: 'ERR_PROTO_USAGE',
      cause: { code: 'ENOENT' },
    })
    await expect(conn.send({ files: [{ name: 'x', path: dir }] })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    // A later file that fails its check must not leave the first one's stat unhandled.
    await expect(
      conn.send({ files: [{ name: 'x', path: join(dir, 'missing') }, { name: 'é'.repeat(40_000), data: 'x' }] }),
    ).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE', message: expect.stringContaining('UTF-8 bytes') })
    const next = wire('tej_message_only/client/0')
    void conn.send({ message: 'hello' })
    expect(await reader.bytes(next.length)).toEqual(next)
  })

  it('gives identical bytes for data, path and stream sources', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.nat(65_536), fc.integer()).map(([n, seed]) => pseudoRandomBytes(n, seed)),
        fc.integer({ min: 4096, max: 70_000 }),
        fc.string({ unit: 'binary', maxLength: 12 }),
        async (data, chunk, name) => {
          const path = join(dir, `source-${run++}`)
          await writeFile(path, data)
          const expected = Buffer.from(encodeFrame({ status: 3, files: [{ name, data }], message: Buffer.from('m') }))
          const { conn, reader } = connectionPair()
          const sources = [
            { name, data },
            { name, path },
            { name, stream: slowly(data, chunk), size: data.length },
            { name, stream: Readable.from([data]), size: data.length },
          ]
          for (const source of sources) {
            const sent = conn.send({ status: 3, files: [source], message: 'm' })
            expect(Buffer.compare(await reader.bytes(expected.length), expected)).toBe(0)
            await sent
          }
        },
      ),
      { numRuns: Math.max(1, Math.floor(numRuns / 20)) },
    )
  })

  it('leaves nothing on the connection for each chunk or file of a stream source it has sent', async () => {
    const { conn, reader } = connectionPair()
    const before = getEventListeners(conn.signal, 'abort').length
    const data = pseudoRandomBytes(4096, 7)
    const expected = Buffer.from(encodeFrame({ status: 0, files: [{ name: 's', data }], message: Buffer.alloc(0) }))
    for (let i = 0; i < 3; i++) {
      const sent = conn.send({ files: [{ name: 's', stream: slowly(data, 16), size: data.length }] })
      expect(Buffer.compare(await reader.bytes(expected.length), expected)).toBe(0)
      await sent
      // Waiting for a chunk listens for the connection's end only while it waits.
      expect(getEventListeners(conn.signal, 'abort')).toHaveLength(before)
    }
  })

  it('queues concurrent sends and writes each frame whole, in call order', async () => {
    const { a, b } = tejPair()
    const sent = Array.from({ length: 12 }, (_, i) => {
      const data = pseudoRandomBytes(20_000 + i * 997, i)
      return a.send({ files: [{ name: `f${i}`, stream: slowly(data, 4096 + i * 100), size: data.length }], message: `m${i}` })
    })
    const received = b[Symbol.asyncIterator]()
    for (let i = 0; i < 12; i += 1) {
      const next = await received.next()
      const frame = next.done === true ? expect.unreachable() : await next.value.buffer()
      expect(frame.files[0]?.name).toBe(`f${i}`)
      expect(Buffer.compare(Buffer.from(frame.files[0]?.data ?? []), pseudoRandomBytes(20_000 + i * 997, i))).toBe(0)
      expect(Buffer.from(frame.message).toString()).toBe(`m${i}`)
    }
    await Promise.all(sent)
  })

  it('slices in-memory data larger than the write buffer limit', async () => {
    const { a, b } = tejPair()
    const data = Buffer.alloc(80 * 1024 * 1024, 1)
    const sent = a.send({ files: [{ name: 'big', data }] })
    for await (const frame of b) {
      for await (const file of frame.files()) {
        let size = 0
        for await (const chunk of file) size += chunk.length
        expect(size).toBe(data.length)
      }
      break
    }
    await sent
  })

  it.each([
    ['ends 1 byte short', 1023],
    ['runs 1 byte long', 1025],
  ])('fails a stream source that %s with ERR_TEJ_FILE_SIZE_MISMATCH and destroys the connection', async (_case, actual) => {
    const { a, b, aEnded, bEnded } = await tejTcpPair()
    const sent = expect(a.send({ files: [{ name: 'f', stream: slowly(Buffer.alloc(actual), 256), size: 1024 }] })).rejects.toMatchObject({
      code: ErrorCode.FILE_SIZE_MISMATCH,
      declared: 1024,
    })
    const frames = b[Symbol.asyncIterator]()
    const first = await frames.next()
    const frame = first.done === true ? expect.unreachable() : first.value
    await expect(frame.message()).rejects.toMatchObject({ code: ErrorCode.TRUNCATED })
    await sent
    expect(await aEnded).toMatchObject({ code: ErrorCode.FILE_SIZE_MISMATCH })
    expect(await bEnded).toMatchObject({ code: ErrorCode.TRUNCATED })
    await expect(frames.next()).rejects.toMatchObject({ code: ErrorCode.CLOSED, cause: { code: ErrorCode.TRUNCATED } })
    await expect(a.send({ message: 'after' })).rejects.toMatchObject({ code: ErrorCode.CLOSED })
  })

  it('destroys the connection when a stream source fails mid-file', async () => {
    const { a, b, aEnded, bEnded } = await tejTcpPair()
    const failing = function* (): Generator<Uint8Array> {
      yield Buffer.alloc(10)
      throw new Error('disk gone')
    }
    await expect(a.send({ files: [{ name: 'f', stream: Readable.from(failing()), size: 100 }] })).rejects.toThrow('disk gone')
    expect(await aEnded).toMatchObject({ code: ErrorCode.CLOSED, cause: { message: 'disk gone' } })
    await expect(firstMessage(b)).rejects.toMatchObject({ code: ErrorCode.TRUNCATED })
    expect(await bEnded).toMatchObject({ code: ErrorCode.TRUNCATED })
  })

  it('takes a frame aborted before its first byte off the queue and keeps the connection', async () => {
    const { conn, reader } = connectionPair()
    const held = gate()
    const first = conn.send({
      files: [
        {
          name: 'a',
          stream: heldSource(held.promise, Buffer.from('A')),
          size: 1,
        },
      ],
    })
    const controller = new AbortController()
    const aborted = conn.send({ message: 'never' }, { signal: controller.signal })
    const reason = new Error('changed my mind')
    controller.abort(reason)
    await expect(aborted).rejects.toBe(reason)
    const last = conn.send({ message: 'hello' })
    held.open()
    await first
    const firstBytes = encodeFrame({ status: 0, files: [{ name: 'a', data: Buffer.from('A') }], message: Buffer.alloc(0) })
    expect(await reader.bytes(firstBytes.length)).toEqual(Buffer.from(firstBytes))
    const next = wire('tej_message_only/client/0')
    expect(await reader.bytes(next.length)).toEqual(next)
    await last
  })

  it('destroys the connection when a frame is aborted after its first byte', async () => {
    const { a, b, aEnded, bEnded } = await tejTcpPair()
    const controller = new AbortController()
    const reason = new Error('stop')
    const stuck = (async function* () {
      yield Buffer.alloc(100)
      controller.abort(reason)
      await new Promise(() => undefined)
    })()
    await expect(a.send({ files: [{ name: 'f', stream: stuck, size: 1000 }] }, { signal: controller.signal })).rejects.toBe(reason)
    expect(await aEnded).toMatchObject({ code: ErrorCode.CLOSED, cause: reason })
    await expect(firstMessage(b)).rejects.toMatchObject({ code: ErrorCode.TRUNCATED })
    expect(await bEnded).toMatchObject({ code: ErrorCode.TRUNCATED })
  })

  it('destroys the connection when a frame is aborted after its first byte to a peer that reads nothing', async () => {
    const { conn, ended } = connectionPair()
    const controller = new AbortController()
    const reason = new Error('stop')
    const pulled = gate()
    const source = Readable.from(
      (function* () {
        pulled.open()
        // More than the pair holds for a peer that reads nothing: this write never completes.
        yield Buffer.alloc(65_536)
      })(),
    )
    const sending = conn.send({ files: [{ name: 'f', stream: source, size: 131_072 }] }, { signal: controller.signal })
    sending.catch(() => undefined)
    await pulled.promise
    // One turn of the event loop: the chunk is in the stream, waiting on the peer.
    await new Promise((resolve) => setImmediate(resolve))
    controller.abort(reason)
    await expect(sending).rejects.toBe(reason)
    expect(await ended).toMatchObject({ code: ErrorCode.CLOSED, cause: reason })
  })

  it('rejects with a TimeoutError when the timeout passes while queued', async () => {
    const { conn } = connectionPair()
    const held = gate()
    void conn
      .send({
        files: [
          {
            name: 'a',
            stream: heldSource(held.promise, Buffer.from('A')),
            size: 1,
          },
        ],
      })
      .catch(() => undefined)
    await expect(conn.send({ message: 'late' }, { timeout: 1 })).rejects.toMatchObject({ name: 'TimeoutError' })
    held.open()
  })

  it('rejects at once with an already aborted signal', async () => {
    const { conn } = connectionPair()
    const reason = new Error('already')
    await expect(conn.send({ message: 'x' }, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
  })

  it('rejects pending sends with ERR_TEJ_CLOSED, cause the receive error, when the connection fails', async () => {
    const { conn, peer } = connectionPair()
    const held = gate()
    const blocked = conn.send({
      files: [
        {
          name: 'a',
          stream: heldSource(held.promise, Buffer.from('A')),
          size: 1,
        },
      ],
    })
    const queued = conn.send({ message: 'queued' })
    peer.write(wire('tej_protocol_version_2/server/0'))
    await expect(queued).rejects.toMatchObject({ code: ErrorCode.CLOSED, cause: { code: ErrorCode.UNSUPPORTED_VERSION } })
    await expect(blocked).rejects.toMatchObject({ code: ErrorCode.CLOSED, cause: { code: ErrorCode.UNSUPPORTED_VERSION } })
  })

  it('hands names with separators, dot-dot and NUL over as data', async () => {
    const { a, b } = tejPair()
    const names = ['../escape', '/etc/passwd', 'a/b/c', 'nul\u0000name', '..']
    const sent = a.send({ files: names.map((name) => ({ name, data: name })) })
    for await (const frame of b) {
      const got = await frame.buffer()
      expect(got.files.map((f) => f.name)).toEqual(names)
      expect(got.files.map((f) => Buffer.from(f.data).toString())).toEqual(names)
      break
    }
    await sent
  })

  it('reads a path source as a stream from disk', async () => {
    const path = join(dir, 'disk')
    const data = pseudoRandomBytes(300_000, 9)
    await writeFile(path, data)
    const { a, b } = tejPair()
    const sent = a.send({ files: [{ name: 'disk', path }] })
    for await (const frame of b) {
      for await (const file of frame.files()) {
        expect(file.size).toBe(data.length)
        expect(Buffer.compare(await readAll(file), data)).toBe(0)
      }
      break
    }
    await sent
  })
})
