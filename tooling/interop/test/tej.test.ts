// TEJ v1 against the Python original (tej-protoc 0.2.4), both ways over 127.0.0.1: its TPClient
// against our server, our client against its TPServer, and raw frames for every bug of the
// original that we fix, with the original as the negative control.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadVectors } from '@proto/framing/testing'
import { temporaryDirectory } from '@proto/vitest-config/cleanup'
import { startDriver } from './driver.ts'
import type { Driver, DriverEvent } from './driver.ts'
import { interopEnvironment } from './environment.ts'
import { decodeError, encode, pattern, refusal, sha256, tejClient, tejSendCli, tejServer } from './ours/tej.ts'
import type { TejFrameOut, TejFrameSeen } from './ours/tej.ts'
import { connectRaw, NEVER_ANSWERED_WITHIN, RawListener, within } from './raw.ts'

interopEnvironment()

const vectors = loadVectors('tej')
const wire = (name: string): Buffer => vectors.find((v) => v.name === name)?.bytes ?? expect.unreachable(name)

const UNICODE = 'héllo wörld ✓ 日本語 🎉'
const LARGE = 8 * 1_048_576
/** The status the original's driver server answers by sending the frame back. */
const ECHO = 1

/** A frame with every kind of part: files with data, empty data and an empty name, and text. */
const MIXED: TejFrameOut = {
  status: 5,
  files: [
    { name: 'a.txt', data: 'hello file' },
    { name: 'empty.dat', data: '' },
    { name: '', data: 'nameless' },
    { name: 'b.bin', pattern: 300 },
  ],
  message: UNICODE,
}

/** What a receiver reports of `frame`, to compare with what it was sent. */
function expected(frame: TejFrameOut): TejFrameSeen {
  return {
    status: frame.status ?? 0,
    files: (frame.files ?? []).map((file) => {
      const data = file.data ?? pattern(file.pattern ?? 0)
      return { name: file.name, size: Buffer.byteLength(data), sha256: sha256(data) }
    }),
    message: frame.message === undefined || frame.message === '' ? null : frame.message,
  }
}

/** The driver's report of a frame, reduced to what `expected` gives. */
function report(event: DriverEvent): TejFrameSeen {
  return { status: event['status'] as number, files: event['files'] as TejFrameSeen['files'], message: event['message'] as string | null }
}

async function originalClient(port: number): Promise<Driver> {
  return (await startDriver('tej', 'tej_client.py', [String(port)], 'connected')).driver
}

async function originalServer(): Promise<{ driver: Driver; port: number }> {
  const { driver, ready } = await startDriver('tej', 'tej_server.py', [], 'listening')
  return { driver, port: ready['port'] as number }
}

/** The driver's file arguments for `frame`. */
function pythonFiles(frame: TejFrameOut): Record<string, unknown>[] {
  return (frame.files ?? []).map((file) =>
    file.pattern === undefined ? { name: file.name, text: String(file.data ?? '') } : { name: file.name, pattern_bytes: file.pattern },
  )
}

function pythonFrame(frame: TejFrameOut): Record<string, unknown> {
  return { status: frame.status ?? 0, files: pythonFiles(frame), ...(frame.message === undefined ? {} : { message: frame.message }) }
}

describe('the original client against our server', () => {
  it('sends files, an empty name, empty data, text and a status; our echo comes back whole', async () => {
    const server = await tejServer({ echo: true })
    const client = await originalClient(server.port)
    const conn = await server.connection()
    await client.call('send', pythonFrame(MIXED))
    expect(await conn.frame(0)).toEqual(expected(MIXED))
    expect(report(await client.event('frame'))).toEqual(expected(MIXED))
    expect(server.clientErrors).toEqual([])
  })

  it('sends an empty frame and statuses 0 and 127', async () => {
    const server = await tejServer({ echo: false })
    const client = await originalClient(server.port)
    const conn = await server.connection()
    await client.call('send', { status: 0 })
    await client.call('send', { status: 127, message: 's127' })
    expect(await conn.frame(0)).toEqual({ status: 0, files: [], message: null })
    expect(await conn.frame(1)).toEqual({ status: 127, files: [], message: 's127' })
  })

  it('carries an 8 MiB file both ways', async () => {
    const server = await tejServer({ echo: true })
    const client = await originalClient(server.port)
    const conn = await server.connection()
    const frame: TejFrameOut = { files: [{ name: 'big.bin', pattern: LARGE }], message: 'big' }
    await client.call('send', pythonFrame(frame))
    expect(await conn.frame(0)).toEqual(expected(frame))
    expect(report(await client.event('frame'))).toEqual(expected(frame))
  })

  it('sends frames back to back, delivered in order', async () => {
    const server = await tejServer({ echo: false })
    const client = await originalClient(server.port)
    const conn = await server.connection()
    await client.call('send_many', { count: 50 })
    await conn.frame(49)
    expect(conn.frames.map((frame) => frame.message)).toEqual(Array.from({ length: 50 }, (_, i) => `frame ${i}`))
  })

  it('pings both ways: the Ping helper to us, ours to the original', async () => {
    const server = await tejServer({ echo: true })
    const client = await originalClient(server.port)
    const conn = await server.connection()
    await client.call('ping')
    expect(await conn.pingReceived(0)).toEqual({ status: 2, files: [], message: null })
    await conn.ping()
    expect(report({ ...(await client.event('ping')), status: 2 })).toEqual({ status: 2, files: [], message: null })
    // A ping is not a frame: nothing was echoed and no frame was reported on either side.
    expect(conn.frames).toEqual([])
    expect(client.seen('frame')).toEqual([])
  })

  it("refuses the original's non-ASCII file names, whose length it writes in code points", async () => {
    // The spec's decision: the misread length is over 2^53, so it is refused before any
    // allocation and the connection is closed.
    const server = await tejServer({ echo: true })
    const client = await originalClient(server.port)
    const conn = await server.connection()
    await client.call('send', { files: [{ name: 'é.txt', text: 'data' }], message: 'after' })
    await server.clientError('ERR_TEJ_FILE_TOO_LARGE')
    await conn.closed
    await client.event('disconnected')
  })

  it('sees the original client close cleanly', async () => {
    const server = await tejServer({ echo: true })
    const client = await originalClient(server.port)
    const conn = await server.connection()
    await client.call('send', { message: 'last' })
    expect(await conn.frame(0)).toMatchObject({ message: 'last' })
    await client.call('close')
    await conn.closed
    await client.event('disconnected')
    expect(server.clientErrors).toEqual([])
  })

  it('reports an original client that resets in the middle of a frame, and serves the next', async () => {
    const server = await tejServer({ echo: true })
    const first = await originalClient(server.port)
    const conn = await server.connection()
    await first.call('abort_after', { files: [{ name: 'cut.bin', pattern_bytes: 1_000 }], sent_bytes: 500 })
    await conn.closed
    expect(server.clientErrors).toHaveLength(1)
    expect(server.clientErrors[0]).toMatch(/^ERR_TEJ_(TRUNCATED|CLOSED)$/)
    const second = await originalClient(server.port)
    const next = await server.connection()
    await second.call('send', { message: 'next' })
    expect(await next.frame(0)).toMatchObject({ message: 'next' })
  })
})

describe('our client against the original server', () => {
  it('sends files with UTF-8 names, an empty name, empty data, text and a status', async () => {
    const { driver, port } = await originalServer()
    const client = await tejClient(port)
    const frame: TejFrameOut = {
      status: 127,
      files: [
        { name: 'é.txt', data: 'data' },
        { name: '日本語 🎉.bin', pattern: 1_000 },
        { name: 'empty.dat', data: '' },
        { name: '', data: 'nameless' },
      ],
      message: UNICODE,
    }
    await client.send(frame)
    expect(report(await driver.event('frame'))).toEqual(expected(frame))
    expect((await driver.event('frame')).version).toBe(1)
  })

  it('streams an 8 MiB file to the original, and reads the one it sends back', async () => {
    const { driver, port } = await originalServer()
    const client = await tejClient(port)
    const frame: TejFrameOut = { status: ECHO, files: [{ name: 'big.bin', pattern: LARGE }], message: 'big' }
    await client.send(frame)
    expect(report(await driver.event('frame'))).toEqual(expected(frame))
    expect(await client.frame(0)).toEqual(expected(frame))
  })

  it("reads the frames the original builds: files, empty data, statuses, and an empty frame", async () => {
    const { driver, port } = await originalServer()
    const client = await tejClient(port)
    await driver.event('connection')
    await driver.call('send', { client: 0, ...pythonFrame(MIXED) })
    await driver.call('send', { client: 0, status: 0 })
    expect(await client.frame(0)).toEqual(expected(MIXED))
    expect(await client.frame(1)).toEqual({ status: 0, files: [], message: null })
  })

  it('keeps many frames in flight, received whole and in order', async () => {
    const { driver, port } = await originalServer()
    const client = await tejClient(port)
    const sent = Array.from({ length: 20 }, (_, i) => ({ files: [{ name: `f${i}`, pattern: 10_000 + i }], message: `frame ${i}` }))
    await Promise.all(sent.map((frame) => client.send(frame)))
    await driver.event('frame', (e) => e['message'] === 'frame 19')
    expect(driver.seen('frame').map(report)).toEqual(sent.map(expected))
  })

  it('pings both ways: ours to the original, its Ping helper to us', async () => {
    const { driver, port } = await originalServer()
    const client = await tejClient(port)
    await client.ping()
    expect(await driver.event('ping')).toMatchObject({ files: [], message: null })
    await driver.call('ping', { client: 0 })
    expect(await client.pingReceived(0)).toEqual({ status: 2, files: [], message: null })
    expect(driver.seen('frame')).toEqual([])
  })

  it('answers `tej send`, which prints the frame the original sends back', async () => {
    const { driver, port } = await originalServer()
    const file = join(await temporaryDirectory('tej-send-'), 'data.bin')
    await writeFile(file, pattern(100_000))
    const sent = await tejSendCli(port, { status: ECHO, message: UNICODE, files: [file] })
    expect(sent.code).toBe(0)
    const printed = { status: ECHO, message: UNICODE, files: [{ name: 'data.bin', size: 100_000, sha256: sha256(pattern(100_000)) }] }
    expect(JSON.parse(sent.stdout)).toEqual(printed)
    expect(report(await driver.event('frame'))).toEqual(printed)
  })

  it('closes cleanly: the original sees the end of the connection', async () => {
    const { driver, port } = await originalServer()
    const client = await tejClient(port)
    await client.send({ message: 'last' })
    await driver.event('frame')
    await Promise.all([client.close(), driver.event('disconnected')])
    await client.closed
  })

  it('cuts the connection, and the original goes on serving', async () => {
    const { driver, port } = await originalServer()
    const first = await tejClient(port)
    await first.send({ message: 'first' })
    await driver.event('frame')
    await first.abort()
    await driver.event('disconnected', (e) => e['client'] === 0)
    const second = await tejClient(port)
    await second.send({ message: 'second' })
    expect(await driver.event('frame', (e) => e['client'] === 1)).toMatchObject({ message: 'second' })
  })
})

describe('original bugs we fix, with the original as the negative control', () => {
  it('writes the UTF-8 byte count of a file name (the original writes the code points)', async () => {
    const listener = await RawListener.open()
    const frame: TejFrameOut = { files: [{ name: 'é.txt', data: 'data' }], message: 'after' }
    const ours = await tejClient(listener.port)
    const toOurs = await listener.accepted()
    await ours.send(frame)
    const ourBytes = await toOurs.until((all) => all.length >= 41)
    expect(ourBytes.toString('hex')).toBe('80010000000000000001' + '0006' + 'c3a92e747874' + '0000000000000004' + '64617461' + '0000000000000005' + '6166746572')
    const original = await originalClient(listener.port)
    const toOriginal = await listener.accepted()
    await original.call('send', pythonFrame(frame))
    const originalWire = wire('tej_nonascii_filename_e_acute/client/0')
    expect(await toOriginal.until((all) => all.length >= originalWire.length)).toEqual(originalWire)
  })

  it('sends a non-ASCII file name back as it came (the original breaks its own echo)', async () => {
    const frame = encode({ status: ECHO, files: [{ name: 'é.txt', data: 'data' }], message: 'after' })
    const server = await tejServer({ echo: true })
    const toOurs = await connectRaw(server.port)
    await toOurs.write(frame)
    expect(await toOurs.until((all) => all.length >= frame.length)).toEqual(Buffer.from(frame))
    const { port } = await originalServer()
    const toOriginal = await connectRaw(port)
    await toOriginal.write(frame)
    const echoed = await toOriginal.until((all) => all.length >= frame.length - 1)
    // Its name length says 5 where 6 bytes follow: the frame no longer decodes.
    expect(echoed.readUInt16BE(10)).toBe(5)
    expect(decodeError(echoed)).toBe('ERR_TEJ_FILE_TOO_LARGE')
  })

  it('refuses a status over 127 before writing anything (the original wraps 128 to 0)', async () => {
    const listener = await RawListener.open()
    const ours = await tejClient(listener.port)
    const toOurs = await listener.accepted()
    expect(await refusal(ours.send({ status: 128, message: 's128' }))).toBe('ERR_TEJ_INVALID_STATUS')
    await ours.send({ status: 5, message: 's5' })
    // The first bytes on the wire are the frame after the refused one.
    expect(await toOurs.until((all) => all.length >= 20)).toEqual(wire('tej_custom_status_5/client/0'))
    const original = await originalClient(listener.port)
    const toOriginal = await listener.accepted()
    await original.call('send', { status: 128, message: 's128' })
    const overflow = wire('tej_custom_status_128_overflow/server/0')
    expect(await toOriginal.until((all) => all.length >= overflow.length)).toEqual(overflow)
  })

  it('refuses a protocol version other than 1 (the original takes any)', async () => {
    const frame = wire('tej_protocol_version_2/server/0')
    const server = await tejServer({ echo: true })
    const toOurs = await connectRaw(server.port)
    await toOurs.write(frame)
    await server.clientError('ERR_TEJ_UNSUPPORTED_VERSION')
    await toOurs.ended
    const { driver, port } = await originalServer()
    const toOriginal = await connectRaw(port)
    await toOriginal.write(frame)
    expect(await driver.event('frame')).toMatchObject({ version: 2, message: 'v2' })
    expect(toOriginal.socket.readableEnded).toBe(false)
  })

  it('refuses a hostile file length before allocating it (the original dies of MemoryError)', async () => {
    // One file named "a" declaring 2^62 bytes, and nothing after.
    const frame = Buffer.from('80010000000000000001' + '0001' + '61' + '4000000000000000', 'hex')
    const server = await tejServer({ echo: true })
    const toOurs = await connectRaw(server.port)
    await toOurs.write(frame)
    await server.clientError('ERR_TEJ_FILE_TOO_LARGE')
    await toOurs.ended
    const { driver, port } = await originalServer()
    const toOriginal = await connectRaw(port)
    await toOriginal.write(frame)
    expect(await driver.event('thread_error')).toMatchObject({ type: 'MemoryError' })
    await toOriginal.ended
  })

  it("sends to one peer while another does not read (the original's one send lock stalls every connection)", async () => {
    // Peer A sends an 8 MiB frame to echo and reads nothing back, so the echo fills the socket
    // buffers (at most a few MiB on loopback) and waits; peer B then asks for an echo too.
    const big = encode({ status: ECHO, files: [{ name: 'big.bin', data: pattern(LARGE) }] })
    const small = encode({ status: ECHO, message: 'small' })
    const server = await tejServer({ echo: true })
    const stalledOnOurs = await connectRaw(server.port)
    stalledOnOurs.socket.pause()
    await stalledOnOurs.write(big)
    await (await server.connection()).frame(0)
    const toOurs = await connectRaw(server.port)
    await toOurs.write(small)
    expect(await toOurs.until((all) => all.length >= small.length)).toEqual(Buffer.from(small))

    const { driver, port } = await originalServer()
    const stalled = await connectRaw(port)
    stalled.socket.pause()
    await stalled.write(big)
    // A's echo holds the lock for as long as A does not read.
    await driver.event('send_lock', (e) => e['client'] === 0)
    const toOriginal = await connectRaw(port)
    await toOriginal.write(small)
    // It has read B's frame and begun its echo, which waits for the lock A's echo holds.
    await driver.event('echoing', (e) => e['client'] === 1)
    expect(await within(toOriginal.until((all) => all.length > 0), NEVER_ANSWERED_WITHIN)).toBe('quiet')
    expect(driver.seen('echoed')).toEqual([])
    expect(driver.seen('send_lock')).toEqual([{ event: 'send_lock', client: 0 }])
  })
})
