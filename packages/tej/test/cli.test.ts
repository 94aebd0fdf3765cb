import { Buffer, isUtf8 } from 'node:buffer'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { ByteReader, encodeProxyHeader } from '@proto/framing'
import type { CliIO } from '@proto/framing/cli'
import type { ServingMain } from '@proto/framing/testing'
import { cliCases, listenLoopback, loadVectors, runMain, serveMain, silentServer, spawnServe, streamThroughBin, tempSocketPath, writeTestCertificate } from '@proto/framing/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { cli, main } from '../src/cli.ts'
import { connect } from '../src/client.ts'
import { decodeFrame, encodeFrame } from '../src/codec.ts'
import { ErrorCode } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { TejFrame, TejHandler, TejServer } from '../src/types.ts'
import { frameHead, u16, u64, wire } from './helpers.ts'

const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const vectors = loadVectors('tej')

let dir = ''
const servers: TejServer[] = []
const servingMains: ServingMain[] = []
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tej-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
afterEach(async () => {
  for (const { stop } of servingMains) stop()
  await Promise.all(servingMains.splice(0).map(({ exit }) => exit))
  await Promise.all(servers.splice(0).map((s) => s.close({ signal: AbortSignal.abort() })))
})

const run = (argv: string[], extra: Partial<CliIO> = {}) => runMain(main, argv, extra)

/** Runs `tej serve` in process until the returned stop() is called; `address` is what it printed. */
async function serve(...args: string[]) {
  const serving = await serveMain(main, ['serve', '--port', '0', ...args])
  servingMains.push(serving)
  return { ...serving, port: Number(serving.port) }
}

/** A raw socket to 127.0.0.1, connected, with its local port read while it is open. */
async function rawPeer(port: number): Promise<{ socket: net.Socket; localPort: number }> {
  const socket = net.connect({ port, host: '127.0.0.1' })
  socket.on('error', () => undefined)
  socket.resume()
  await once(socket, 'connect')
  return { socket, localPort: socket.localPort ?? expect.unreachable() }
}

async function server(handler: TejHandler): Promise<number> {
  const s = createServer({ handler })
  servers.push(s)
  return (await s.listen({ port: 0 })).port
}

const echo: TejHandler = async (frame, ctx) => {
  await ctx.connection.send(await frame.buffer())
}

const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex')
const jsonLines = (out: string): unknown[] => out.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as unknown)

/** A peer that answers any connection with a frame whose message and file name hold terminal control sequences. */
async function hostilePeer(): Promise<{ port: number; close(): Promise<void> }> {
  const hostile = encodeFrame({
    status: 0,
    files: [{ name: 'x\u001b[2J.txt', data: Buffer.from('data') }],
    message: Buffer.from('\u001b]0;pwned\u0007title \u001b[2Jcleared'),
  })
  return listenLoopback(
    net.createServer((socket) => {
      socket.on('error', () => {})
      socket.resume()
      socket.end(hostile)
    }),
  )
}

describe('the shared CLI table, on the built bin', () => {
  it('finds the build', () => {
    expect(existsSync(bin), 'build the package first: dist/cli.js').toBe(true)
  })

  for (const conformance of cliCases({ bin, cli, client: (target) => ['send', target], fakePeer: hostilePeer })) {
    it(conformance.name, () => conformance.run())
  }
})

describe('usage', () => {
  it.each([
    [['send', '127.0.0.1:1', '--status', '128'], '--status 128 is out of range (0 to 127)'],
    [['send', '127.0.0.1:1', '--status', 'abc'], '--status abc is not an integer (0 to 127)'],
    [['send', '127.0.0.1:1', '--expect', '-1'], '--expect -1 is out of range'],
    [['send', 'localhost'], 'HOST:PORT expected, got localhost'],
    [['send', '127.0.0.1:1', 'extra'], 'unexpected argument extra'],
    [['serve', '--tls-cert', 'cert.pem'], '--tls-cert and --tls-key go together'],
    [['serve', '--proxy-protocol', 'v3'], '--proxy-protocol v3 is not one of v1, v2, any'],
  ])('%j says %s and exits 2', async (argv, says) => {
    const result = await run(argv)
    expect(result.code).toBe(2)
    expect(result.out).toBe('')
    expect(result.err.split('\n')[0]).toMatch(new RegExp(`^tej: ${says.replace(/[()]/g, '\\$&')}.* \\(ERR_PROTO_CLI_USAGE\\)$`))
  })

  it('explains every verb, with the ranges of its numbers', async () => {
    const help = (await run(['--help'])).out
    for (const text of ['Usage: tej serve [options]', 'Usage: tej send (HOST:PORT | --socket PATH) [options]', 'Usage: tej decode [FILE|-] [options]', '--max-buffered-bytes', '--proxy-protocol']) {
      expect(help).toContain(text)
    }
    expect((await run(['send', '--help'])).out).toMatch(/--status N +the status of the frame \(0 to 127, default: 0\)/)
  })
})

describe('send', () => {
  it('sends a message and files, and prints each frame back with the size and SHA-256 of its files', async () => {
    const port = await server(echo)
    const text = join(dir, 'notes.txt')
    const binary = join(dir, 'blob.bin')
    const blob = Buffer.alloc(300_000, 0xab)
    await writeFile(text, 'hello file')
    await writeFile(binary, blob)
    const argv = ['send', `127.0.0.1:${port}`, '--message', 'héllo', '--file', text, '--file', binary, '--status', '7']
    const human = await run(argv)
    expect(human.err).toBe('')
    expect(human.code).toBe(0)
    expect(human.out).toBe(
      `status 7: héllo\n  file notes.txt: 10 bytes, sha256 ${sha256('hello file')}\n  file blob.bin: 300000 bytes, sha256 ${sha256(blob)}\n`,
    )
    const json = await run([...argv, '--json'])
    expect(json.code).toBe(0)
    expect(jsonLines(json.out)).toEqual([
      {
        status: 7,
        message: 'héllo',
        files: [
          { name: 'notes.txt', size: 10, sha256: sha256('hello file') },
          { name: 'blob.bin', size: blob.length, sha256: sha256(blob) },
        ],
      },
    ])
  })

  it('waits for --expect frames, ignoring pings', async () => {
    const port = await server(async (_frame, { connection }) => {
      await connection.ping()
      await connection.send({ status: 1, message: 'one' })
      await connection.send({ status: 2, message: 'a ping with content' })
      await connection.send({ status: 3, files: [{ name: 'f', data: 'x' }], message: '' })
    })
    const result = await run(['send', `127.0.0.1:${port}`, '--expect', '2'])
    expect(result.code).toBe(0)
    expect(result.out).toBe(`status 1: one\nstatus 3 (no message)\n  file f: 1 bytes, sha256 ${sha256('x')}\n`)
  })

  it('exits 0 at once with --expect 0', async () => {
    const port = await server(() => undefined)
    const result = await run(['send', `127.0.0.1:${port}`, '--expect', '0', '--message', 'fire and forget'])
    expect(result).toEqual({ code: 0, out: '', err: '' })
  })

  it('exits 2 with ERR_TEJ_CLOSED when the server ends before the expected frames', async () => {
    const port = await server(async (_frame, { connection }) => {
      await connection.send({ message: 'only one' })
      await connection.close()
    })
    const result = await run(['send', `127.0.0.1:${port}`, '--expect', '2', '--json'])
    expect(result.code).toBe(2)
    const lines = jsonLines(result.out)
    expect(lines[0]).toMatchObject({ message: 'only one' })
    expect(lines[1]).toEqual({ error: { code: ErrorCode.CLOSED, message: 'the connection ended after 1 of 2 frames' } })
    expect(result.err).toBe('tej: the connection ended after 1 of 2 frames (ERR_TEJ_CLOSED)\n')
  })

  it('says what timed out when nothing comes back within --timeout', async () => {
    const port = await server(() => undefined)
    const result = await run(['send', `127.0.0.1:${port}`, '--timeout', '50', '--json'])
    expect(result.code).toBe(2)
    expect(jsonLines(result.out)).toEqual([{ error: { code: ErrorCode.TIMEOUT, message: 'waiting for frame 1 of 1 timed out after 50 ms' } }])
    expect(result.err).toBe('tej: waiting for frame 1 of 1 timed out after 50 ms (ERR_TEJ_TIMEOUT)\n')
  })

  it('says what timed out when the connection is not up within --connect-timeout', async () => {
    // A TLS handshake the silent peer never answers: the connect cannot finish.
    const silent = await silentServer()
    try {
      const result = await run(['send', `127.0.0.1:${silent.port}`, '--tls', '--connect-timeout', '50'])
      expect(result.code).toBe(2)
      expect(result.err).toBe(`tej: connect to 127.0.0.1:${silent.port} timed out after 50 ms (ERR_TEJ_TIMEOUT)\n`)
    } finally {
      await silent.close()
    }
  })

  it('fails with --stall-timeout when the server takes none of the frame', async () => {
    const deaf = net.createServer({ pauseOnConnect: true }, (socket) => socket.on('error', () => undefined))
    const peer = await listenLoopback(deaf)
    const big = join(dir, 'stalled.bin')
    await writeFile(big, Buffer.alloc(16 * 1_048_576))
    try {
      const result = await run(['send', `127.0.0.1:${peer.port}`, '--file', big, '--stall-timeout', '50'])
      expect(result.code).toBe(2)
      expect(result.err).toBe(
        `tej: a write of a frame waited 50 ms for the peer to take its bytes (stallTimeout) (${ErrorCode.STALL_TIMEOUT})\n` +
          '  cause: write timed out after 50 ms (ERR_PROTO_TIMEOUT)\n',
      )
    } finally {
      await rm(big)
      await peer.close()
    }
  })

  it('reaches a server on a unix socket with --socket', async () => {
    const socket = await tempSocketPath()
    const s = createServer({ handler: echo })
    servers.push(s)
    await s.listen({ path: socket.path })
    const result = await run(['send', '--socket', socket.path, '--message', 'over a unix socket'])
    expect(result).toEqual({ code: 0, out: 'status 0: over a unix socket\n', err: '' })
    await socket.remove()
  })
})

describe('serve', () => {
  it('echoes frames, not pings, until its signal aborts', async () => {
    const { port, stop, exit } = await serve()
    const client = await connect({ port })
    await client.ping()
    await client.send({ status: 5, files: [{ name: 'a.txt', data: 'AAA' }], message: 'echo me' })
    for await (const frame of client) {
      const got = await frame.buffer()
      expect(got.status).toBe(5)
      expect(Buffer.from(got.message).toString()).toBe('echo me')
      expect(got.files.map((f) => [f.name, Buffer.from(f.data).toString()])).toEqual([['a.txt', 'AAA']])
      break
    }
    stop()
    expect(await exit).toBe(0)
    await client.closed
  })

  it('reports a bad peer once on stderr, with its address and the code', async () => {
    const { port, stop, exit, stderr } = await serve()
    const raw = await rawPeer(port)
    raw.socket.write(wire('tej_protocol_version_2/server/0'))
    await once(raw.socket, 'close')
    stop()
    expect(await exit).toBe(0)
    expect(stderr.text).toBe(
      `client 127.0.0.1:${raw.localPort}: protocol version 2 is not supported (only 1 is) (${ErrorCode.UNSUPPORTED_VERSION})\n`,
    )
  })

  it('reports a frame cut short once, not also as a handler error', async () => {
    const { port, stop, exit, stderr } = await serve()
    const raw = await rawPeer(port)
    raw.socket.end(wire('tej_large_file_100000/server/0').subarray(0, 50_000))
    await once(raw.socket, 'close')
    stop()
    expect(await exit).toBe(0)
    expect(stderr.text).toBe(
      `client 127.0.0.1:${raw.localPort}: stream ended inside a frame (${ErrorCode.TRUNCATED})\n` +
        '  cause: input ended after 49973 of 100000 bytes (ERR_PROTO_TRUNCATED_FRAME)\n',
    )
  })

  it('applies the size limits and --idle-timeout', async () => {
    const { port, stop, exit, stderr } = await serve('--max-message-bytes', '4', '--idle-timeout', '100')
    const silent = await rawPeer(port)
    await once(silent.socket, 'close')
    const large = await rawPeer(port)
    large.socket.write(wire('tej_message_only/client/0'))
    await once(large.socket, 'close')
    stop()
    expect(await exit).toBe(0)
    expect(stderr.text.split('\n')).toEqual([
      `client 127.0.0.1:${silent.localPort}: no byte received for 100 ms (idleTimeout) (${ErrorCode.IDLE_TIMEOUT})`,
      '  cause: no byte received for 100 ms (ERR_PROTO_IDLE_TIMEOUT)',
      `client 127.0.0.1:${large.localPort}: message length of 5 is over the limit of 4 (${ErrorCode.MESSAGE_TOO_LARGE})`,
      '',
    ])
  })

  it('cuts a peer that takes none of its echo with --stall-timeout', async () => {
    const { port, stop, exit, stderr } = await serve('--stall-timeout', '100')
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.on('error', () => undefined)
    await once(socket, 'connect')
    const localPort = socket.localPort ?? expect.unreachable()
    // A frame whose echo is far more than the socket buffers hold, and the peer reads none of it.
    socket.write(encodeFrame({ status: 0, files: [{ name: 'big', data: Buffer.alloc(16 * 1_048_576) }], message: Buffer.alloc(0) }))
    await stderr.holds(`(${ErrorCode.STALL_TIMEOUT})`)
    socket.destroy()
    stop()
    expect(await exit).toBe(0)
    expect(stderr.text).toBe(
      `client 127.0.0.1:${localPort}: a write of a frame waited 100 ms for the peer to take its bytes (stallTimeout) (${ErrorCode.STALL_TIMEOUT})\n` +
        '  cause: write timed out after 100 ms (ERR_PROTO_TIMEOUT)\n',
    )
  })

  it('refuses the connection past --max-connections before reading it', async () => {
    const { port, stop, exit, stderr } = await serve('--max-connections', '1')
    const client = await connect({ port })
    const refused = await rawPeer(port)
    await once(refused.socket, 'close')
    await stderr.holds(`(${ErrorCode.TOO_MANY_CONNECTIONS})`)
    await client.close()
    stop()
    expect(await exit).toBe(0)
    expect(stderr.text).toBe(`client 127.0.0.1:${refused.localPort}: server is at maxConnections (1) (${ErrorCode.TOO_MANY_CONNECTIONS})\n`)
  })

  it('serves TLS with --tls-cert and --tls-key, which send reaches with --ca', async () => {
    const { keyFile, certFile, caFile } = await writeTestCertificate(dir)
    const { address } = await serve('--tls-cert', certFile, '--tls-key', keyFile)
    const result = await run(['send', address, '--ca', caFile, '--message', 'over TLS'])
    expect(result).toEqual({ code: 0, out: 'status 0: over TLS\n', err: '' })
  })

  it('listens on a unix socket with --socket', async () => {
    const socket = await tempSocketPath()
    const { address } = await serve('--socket', socket.path)
    expect(address).toBe(socket.path)
    const client = await connect({ path: socket.path })
    await client.send({ message: 'unix' })
    for await (const frame of client) {
      expect(Buffer.from(await frame.message()).toString()).toBe('unix')
      break
    }
    await client.close()
    await socket.remove()
  })

  it('reports the address from the PROXY header with --proxy-protocol', async () => {
    const { port, stop, exit, stderr } = await serve('--proxy-protocol', 'v1')
    const proxied = await rawPeer(port)
    const source = { address: '203.0.113.7', port: 40_000 }
    const header = encodeProxyHeader({ version: 1, command: 'proxy', transport: 'tcp', source, destination: { address: '127.0.0.1', port } })
    proxied.socket.write(Buffer.concat([header, wire('tej_raw_invalid_status_bit/client/0')]))
    await once(proxied.socket, 'close')
    const bare = await rawPeer(port)
    bare.socket.write(wire('tej_message_only/client/0'))
    await once(bare.socket, 'close')
    stop()
    expect(await exit).toBe(0)
    const lines = stderr.text.split('\n')
    expect(lines[0]).toBe(`client 203.0.113.7:40000: status byte 0x05 lacks bit 7 (${ErrorCode.BAD_STATUS_BIT})`)
    expect(lines[1]).toMatch(new RegExp(`^client 127\\.0\\.0\\.1:${bare.localPort}: .+ \\(${ErrorCode.PROXY_HEADER}\\)$`))
  })
})

describe('decode', () => {
  const decodeBytes = (bytes: Buffer, ...args: string[]) => run(['decode', ...args], { stdin: Readable.from([bytes]) })

  /** What decode prints for a frame: the message as text or base64, files summarised. */
  const record = (offset: number, frame: TejFrame) => {
    const message = Buffer.from(frame.message)
    return {
      offset,
      frame: {
        status: frame.status,
        files: frame.files.map((file) => ({ name: file.name, size: file.data.length, sha256: sha256(file.data) })),
        message: isUtf8(message) ? { text: message.toString('utf8') } : { data: message.toString('base64'), encoding: 'base64' },
      },
    }
  }

  const decodable = vectors.filter((v) => v.bytes.length > 0 && !/invalid_status_bit|protocol_version_[02]|nonascii|truncated/.test(v.name))

  it.each(decodable.map((v) => [v.name, v.bytes] as const))('decodes the vector %s as decodeFrame does', async (_name, bytes) => {
    const result = await decodeBytes(bytes)
    expect(result.err).toBe('')
    expect(result.code).toBe(0)
    const expected = []
    for (let offset = 0; offset < bytes.length; ) {
      const { frame, bytesRead } = decodeFrame(bytes.subarray(offset))
      expected.push(record(offset, frame))
      offset += bytesRead
    }
    expect(jsonLines(result.out)).toEqual(expected)
  })

  it('decodes two frames back to back, one of them a file, from a file on disk', async () => {
    const file = join(dir, 'two.bin')
    const first = wire('tej_two_frames_back_to_back/server/0')
    await writeFile(file, Buffer.concat([first, wire('tej_two_frames_back_to_back/server/1')]))
    const result = await run(['decode', file])
    expect(result.code).toBe(0)
    expect(jsonLines(result.out)).toEqual([
      { offset: 0, frame: { status: 0, files: [], message: { text: 'first' } } },
      { offset: first.length, frame: { status: 7, files: [{ name: 'f', size: 1, sha256: sha256('2') }], message: { text: 'second' } } },
    ])
  })

  it('prints a message that is not UTF-8 as base64', async () => {
    const bytes = Buffer.from(encodeFrame({ status: 1, files: [], message: Buffer.from([0xff, 0x00, 0x41]) }))
    expect(jsonLines((await decodeBytes(bytes)).out)).toEqual([{ offset: 0, frame: { status: 1, files: [], message: { data: '/wBB', encoding: 'base64' } } }])
  })

  it.each([
    ['tej_protocol_version_0/client/0', ErrorCode.UNSUPPORTED_VERSION, 'protocol version 0 is not supported (only 1 is)'],
    ['tej_raw_invalid_status_bit/client/0', ErrorCode.BAD_STATUS_BIT, 'status byte 0x05 lacks bit 7'],
    ['tej_nonascii_filename_e_acute/client/0', ErrorCode.FILE_TOO_LARGE, 'file size of 8358680908399640576 is over the limit of 9007199254740991'],
    ['tej_raw_truncated_frame/client/0', ErrorCode.TRUNCATED, 'the capture ends 10 bytes into a frame'],
  ])('stops at %s with an error line after the frames before it, and exits 1', async (name, code, message) => {
    const before = wire('tej_message_only/client/0')
    // A frame after the fault would not be decoded; after a truncated frame there is none.
    const after = code === ErrorCode.TRUNCATED ? [] : [before]
    const result = await decodeBytes(Buffer.concat([before, wire(name), ...after]))
    expect(result.code).toBe(1)
    expect(jsonLines(result.out)).toEqual([
      { offset: 0, frame: { status: 0, files: [], message: { text: 'hello' } } },
      { offset: before.length, error: { code, message } },
    ])
  })

  it('reports a frame over a limit and goes on with the next one, whose start its lengths give', async () => {
    const ok = Buffer.from(encodeFrame({ status: 1, files: [], message: Buffer.from('ok') }))
    const longMessage = Buffer.from(encodeFrame({ status: 2, files: [{ name: 'a', data: Buffer.from('data') }], message: Buffer.from('0123456789') }))
    const longName = Buffer.from(encodeFrame({ status: 3, files: [{ name: 'b'.repeat(9), data: Buffer.from('xy') }, { name: 'c', data: Buffer.from('z') }], message: Buffer.from('m') }))
    const badName = Buffer.concat([frameHead(1n), u16(2), Buffer.from([0xc3, 0x28]), u64(1n), Buffer.from('d'), u64(0n)])
    const capture = Buffer.concat([ok, longMessage, ok, longName, badName, ok])
    const result = await decodeBytes(capture, '--max-message-bytes', '8', '--max-name-bytes', '8')
    expect(result.code).toBe(1)
    let at = 0
    const offsets = [ok, longMessage, ok, longName, badName, ok].map((part) => {
      const offset = at
      at += part.length
      return offset
    })
    expect(jsonLines(result.out)).toEqual([
      { offset: offsets[0], frame: { status: 1, files: [], message: { text: 'ok' } } },
      { offset: offsets[1], error: { code: ErrorCode.MESSAGE_TOO_LARGE, message: 'message length of 10 is over the limit of 8' } },
      { offset: offsets[2], frame: { status: 1, files: [], message: { text: 'ok' } } },
      { offset: offsets[3], error: { code: ErrorCode.NAME_TOO_LONG, message: 'file name length of 9 is over the limit of 8' } },
      { offset: offsets[4], error: { code: ErrorCode.BAD_NAME, message: 'file name is not valid UTF-8' } },
      { offset: offsets[5], frame: { status: 1, files: [], message: { text: 'ok' } } },
    ])
  })

  it('gives the same lines whatever the chunking of stdin', async () => {
    const capture = Buffer.concat([wire('tej_several_files_and_message/client/0'), wire('tej_large_file_100000/server/0'), wire('tej_unicode_message/client/0')])
    const whole = await decodeBytes(capture)
    const pieces = Array.from({ length: capture.length }, (_, i) => capture.subarray(i, i + 1))
    const byteByByte = await run(['decode'], { stdin: Readable.from(pieces) })
    expect(byteByByte).toEqual(whole)
    expect(jsonLines(whole.out)).toHaveLength(3)
  })

  it('exits 2 on a file it cannot read', async () => {
    const result = await run(['decode', join(dir, 'absent.bin')])
    expect(result.code).toBe(2)
    expect(result.err).toMatch(/^tej: cannot read .*absent\.bin \(ERR_PROTO_CLI_READ\)\n {2}cause: .* \(ENOENT\)\n$/)
  })

  // Peak RSS of the child, measured on Node 20 (2 shared cores): 54 MiB for 1 MiB of input, 82 for
  // 64 MiB, 88 for 256 MiB and 92 for 1 GiB, where V8's heap stops growing. Node 24 lets more of
  // the files' 1 MiB chunks wait for a collection: 69 MiB for 1 MiB, 112 for 64 MiB, then 134 to
  // 138 for 512 MiB, 1 GiB, 2 GiB and 4 GiB alike (Node 22: 99 for 1 GiB). Buffering the input,
  // or a file, would pass 1 GiB.
  const MAX_RSS_MIB = 192

  it('decodes 1 GiB from stdin in a child process with flat memory', async () => {
    // One frame of exactly 1 MiB, written 1024 times: a file of 1 MiB less the frame's 40 other bytes.
    const data = Buffer.alloc((1 << 20) - 40, 0x61)
    const block = Buffer.from(encodeFrame({ status: 1, files: [{ name: 'f.bin', data }], message: Buffer.from('message') }))
    expect(block.length).toBe(1 << 20)
    const result = await streamThroughBin({ bin, args: ['decode', '-'], block, times: 1024 })
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.lines).toBe(1024)
    expect(JSON.parse(result.lastLine)).toEqual({
      offset: 1024 ** 3 - (1 << 20),
      frame: { status: 1, files: [{ name: 'f.bin', size: data.length, sha256: sha256(data) }], message: { text: 'message' } },
    })
    expect(result.maxRssMiB).toBeGreaterThan(0)
    expect(result.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
  }, 180_000)
})

describe('the built bin', () => {
  it('serves until SIGTERM and sends from another process', async () => {
    const server = await spawnServe(bin, ['serve', '--port', '0'])
    const address = server.address
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/)
    const send = spawn(process.execPath, [bin, 'send', address, '--message', 'bin', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let output = ''
    send.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const [sendCode] = (await once(send, 'exit')) as [number]
    expect(sendCode).toBe(0)
    expect(JSON.parse(output)).toEqual({ status: 0, message: 'bin', files: [] })
    server.child.kill('SIGTERM')
    expect(await server.exit).toBe(0)
  })

  it('stops serving on SIGINT with a client connected and idle, within the grace', async () => {
    const server = await spawnServe(bin, ['serve', '--port', '0'])
    const port = Number(server.port)
    const idle = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    idle.on('error', () => undefined)
    const reader = new ByteReader(idle)
    idle.write(wire('tej_message_only/client/0'))
    expect(await reader.bytes(23)).toEqual(wire('tej_message_only/server/0'))
    server.child.kill('SIGINT')
    expect(await server.exit).toBe(0)
    idle.destroy()
  })
})
