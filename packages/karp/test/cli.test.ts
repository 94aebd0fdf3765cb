import { Buffer } from 'node:buffer'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { encodeProxyHeader } from '@proto/framing'
import type { OutputSink, ServingMain } from '@proto/framing/testing'
import { cliCases, listenLoopback, runMain, serveMain, silentServer, spawnServe, streamThroughBin, tempSocketPath, writeTestCertificate } from '@proto/framing/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { cli, main } from '../src/cli.ts'
import { connect } from '../src/client.ts'
import { decodeFrame, encodeRequest, encodeResponse } from '../src/codec.ts'
import { createServer } from '../src/server.ts'
import { RawClient, deferred, vectors, wire } from './helpers.ts'

const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const servers: ServingMain[] = []
let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'karp-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
afterEach(async () => {
  vi.useRealTimers()
  for (const { stop } of servers) stop()
  await Promise.all(servers.splice(0).map(({ exit }) => exit))
})

const run = (...argv: string[]) => runMain(main, argv)

/** Runs `karp serve` in process until the test ends; resolves with its target and its stderr. */
async function serve(...args: string[]): Promise<{ target: string; port: number; stderr: OutputSink }> {
  const serving = await serveMain(main, ['serve', ...args])
  servers.push(serving)
  return { target: serving.address, port: Number(serving.port), stderr: serving.stderr }
}

/**
 * A KARP peer that answers every request with success 1 and text holding terminal controls (a
 * window title and a screen clear), and never ends its side of a connection, as the original.
 */
async function hostilePeer(data: string | Uint8Array = '\u001b]0;pwned\u0007title \u001b[2Jcleared'): Promise<{ port: number; ended: Promise<void>; close(): Promise<void> }> {
  const ended = deferred()
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {})
    socket.on('end', () => ended.resolve())
    createInterface({ input: socket }).on('line', (line) => {
      const { id } = decodeFrame(Buffer.from(line))
      socket.write(encodeResponse({ id, success: true, data }))
    })
  })
  return { ...(await listenLoopback(server)), ended: ended.promise }
}

describe('the shared CLI table, on the built bin', () => {
  it('finds the build', () => {
    expect(existsSync(bin), 'build the package first: dist/cli.js').toBe(true)
  })

  for (const conformance of cliCases({ bin, cli, client: (target) => ['request', target, 'echo', 'hello'], fakePeer: () => hostilePeer() })) {
    it(conformance.name, () => conformance.run())
  }
})

describe('karp serve and karp request', () => {
  it('prints exactly one listening line first, and serves echo, upper and fail', async () => {
    const { target } = await serve('--port', '0')
    expect(await run('request', target, 'echo', 'hello wörld')).toEqual({ code: 0, out: 'hello wörld\n', err: '' })
    expect(await run('request', target, 'ECHO')).toEqual({ code: 0, out: '\n', err: '' })
    expect(await run('request', target, 'upper', 'straße')).toEqual({ code: 0, out: 'STRASSE\n', err: '' })
    expect(await run('request', target, 'fail', 'x')).toEqual({ code: 1, out: '', err: 'karp: fail (ERR_KARP_REMOTE)\n' })
  })

  it('upper refuses bytes that are not UTF-8, with its own message', async () => {
    const { port } = await serve('--port', '0')
    const client = await connect({ port })
    await expect(client.request('upper', new Uint8Array([0xff]))).rejects.toMatchObject({ message: 'upper needs UTF-8 text' })
    await client.close()
  })

  it("says when the route does not exist: karp: no route 'nosuch', exit 1", async () => {
    const { target } = await serve('--port', '0')
    expect(await run('request', target, 'NoSuch')).toEqual({ code: 1, out: '', err: "karp: no route 'nosuch' (ERR_KARP_UNKNOWN_ROUTE)\n" })
  })

  it('--json prints the reply, or the error, as one line', async () => {
    const { target } = await serve('--port', '0')
    expect(await run('request', target, 'echo', 'hi', '--json')).toEqual({ code: 0, out: '{"success":true,"text":"hi"}\n', err: '' })
    expect(await run('request', target, 'fail', '--json')).toEqual({
      code: 1,
      out: '{"error":{"code":"ERR_KARP_REMOTE","message":"fail"}}\n',
      err: 'karp: fail (ERR_KARP_REMOTE)\n',
    })
    const peer = await hostilePeer(new Uint8Array([0xff, 0x00]))
    try {
      expect(await run('request', `127.0.0.1:${peer.port}`, 'echo', '--json')).toEqual({
        code: 0,
        out: '{"success":true,"data":"/wA=","encoding":"base64"}\n',
        err: '',
      })
    } finally {
      await peer.close()
    }
  })

  it('--no-reply sends a notification, flushed before the connection ends, and exits 0 without output', async () => {
    const noted = deferred<string>()
    const server = createServer({ handlers: { note: (request) => void noted.resolve(request.text) } })
    const { port } = await server.listen({ port: 0 })
    expect(await run('request', `127.0.0.1:${port}`, 'note', 'quiet', '--no-reply')).toEqual({ code: 0, out: '', err: '' })
    expect(await noted.promise).toBe('quiet')
    await server.close()
  })

  it('ends the connection once answered, without waiting for a peer that never ends its side', async () => {
    const peer = await hostilePeer('answered')
    try {
      // No timer fires: a command that waited for the peer's FIN, or for a close grace, would hang.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] })
      expect(await run('request', `127.0.0.1:${peer.port}`, 'echo')).toEqual({ code: 0, out: 'answered\n', err: '' })
      await peer.ended
    } finally {
      vi.useRealTimers()
      await peer.close()
    }
  })

  it('an invalid route is a local error: exit 2, and a JSON error with --json', async () => {
    const { target } = await serve('--port', '0')
    const result = await run('request', target, 'v2', '--json')
    expect(result.code).toBe(2)
    expect(JSON.parse(result.out)).toMatchObject({ error: { code: 'ERR_KARP_INVALID_ROUTE' } })
    expect(result.err).toBe('karp: route "v2" is not [a-z_]+ once lowercased (ERR_KARP_INVALID_ROUTE)\n')
  })

  it('says what timed out: the reply, or the connection', async () => {
    const silent = await silentServer()
    try {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
      const target = `127.0.0.1:${silent.port}`
      const reply = run('request', target, 'echo', '--timeout', '5000')
      const socket = await silent.accepted()
      await once(socket, 'data')
      await vi.advanceTimersByTimeAsync(5000)
      expect(await reply).toEqual({ code: 2, out: '', err: "karp: request 'echo' timed out after 5000 ms (ERR_KARP_TIMEOUT)\n" })
      const connecting = run('request', target, 'echo', '--tls', '--connect-timeout', '1000')
      await silent.accepted()
      await vi.advanceTimersByTimeAsync(1000)
      expect(await connecting).toEqual({ code: 2, out: '', err: `karp: connect to ${target} timed out after 1000 ms (ERR_KARP_TIMEOUT)\n` })
    } finally {
      vi.useRealTimers()
      await silent.close()
    }
  })

  it('serves and reaches a unix socket with --socket', async () => {
    const { path, remove } = await tempSocketPath()
    try {
      const { target } = await serve('--socket', path)
      expect(target).toBe(path)
      expect(await run('request', 'echo', 'unix', '--socket', path)).toEqual({ code: 0, out: 'unix\n', err: '' })
    } finally {
      await remove()
    }
  })

  it('serves TLS with --tls-cert and --tls-key, and reaches it with --ca', async () => {
    const { certFile, keyFile } = await writeTestCertificate(dir)
    const { target, stderr } = await serve('--port', '0', '--tls-cert', certFile, '--tls-key', keyFile)
    expect(await run('request', target, 'upper', 'secret', '--ca', certFile)).toEqual({ code: 0, out: 'SECRET\n', err: '' })
    const untrusted = await run('request', target, 'echo', '--tls')
    expect(untrusted.code).toBe(2)
    expect(untrusted.err).toMatch(new RegExp(`^karp: cannot connect to ${target}: .*\\(ERR_KARP_CONNECT\\)\\n`))
    await stderr.until(/\(ERR_KARP_TLS_HANDSHAKE\)\n/)
    const half = await run('serve', '--port', '0', '--tls-cert', certFile)
    expect(half).toMatchObject({ code: 2, err: expect.stringMatching(/^karp: --tls-cert and --tls-key go together \(ERR_PROTO_CLI_USAGE\)/) })
  })

  it('reads a PROXY header with --proxy-protocol and reports a bad one with the balancer', async () => {
    const { port, stderr } = await serve('--port', '0', '--proxy-protocol', 'v1')
    const raw = await RawClient.connect(port)
    const header = encodeProxyHeader({ version: 1, command: 'proxy', transport: 'tcp', source: { address: '192.0.2.10', port: 1234 }, destination: { address: '127.0.0.1', port } })
    await raw.write(Buffer.concat([header, encodeRequest({ route: 'echo', id: '0000000000000001', data: 'proxied', wantsReply: true })]))
    expect(Buffer.from(decodeFrame(await raw.line()).data).toString()).toBe('proxied')
    raw.destroy()
    const bad = await RawClient.connect(port)
    await bad.write('not a header\r\n')
    await stderr.until(/^client 127\.0\.0\.1:\d+: .*\(ERR_KARP_PROXY_HEADER\)$/m)
    await bad.ended
  })

  it('applies --max-connections, --max-frame-bytes and --idle-timeout, reporting each on stderr', async () => {
    const { port, stderr } = await serve('--port', '0', '--max-connections', '1', '--max-frame-bytes', '100', '--idle-timeout', '200')
    const first = await RawClient.connect(port)
    const second = await RawClient.connect(port)
    await stderr.until(/\(ERR_KARP_TOO_MANY_CONNECTIONS\)$/m)
    await second.ended
    await first.write(`${'x'.repeat(200)}\n`)
    await stderr.until(/\(ERR_KARP_FRAME_TOO_LARGE\)$/m)
    await first.ended
    const idle = await RawClient.connect(port)
    await stderr.until(/\(ERR_KARP_IDLE_TIMEOUT\)$/m)
    await idle.ended
  })

  it('--expose-errors sends the stack of a failure, for development', async () => {
    const { target } = await serve('--port', '0', '--expose-errors')
    const result = await run('request', target, 'fail')
    expect(result.code).toBe(1)
    expect(result.err).toMatch(/^karp: Error: fail\\n {4}at .* \(ERR_KARP_REMOTE\)\n$/)
  })

  it('exits 2 when serve cannot bind, naming the address', async () => {
    const server = createServer()
    const { port } = await server.listen({ port: 0 })
    const result = await run('serve', '--port', String(port))
    expect(result).toMatchObject({ code: 2, out: '' })
    expect(result.err).toMatch(new RegExp(`^karp: cannot listen on 127\\.0\\.0\\.1:${port}: .* \\(ERR_KARP_LISTEN\\)\\n {2}cause: .*\\(EADDRINUSE\\)\\n$`))
    await server.close()
  })
})

describe('decode', () => {
  const decodeBytes = (bytes: Buffer, ...args: string[]) => runMain(main, ['decode', ...args], { stdin: Readable.from([bytes]) })
  const records = (out: string): Record<string, unknown>[] => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)

  it.each([
    [
      'karp_simple_echo/client/0',
      [{ offset: 0, frame: { type: 'request', route: 'echo', id: '2914177763170669', wantsReply: true, text: 'hello' } }],
    ],
    ['karp_simple_echo/server/0', [{ offset: 0, frame: { type: 'response', id: '2914177763170669', success: true, text: 'hello' } }]],
    ['karp_handler_exception/server/0', [{ offset: 0, frame: { type: 'response', id: '5260181590830166', success: false, text: 'boom' } }]],
    ['karp_raw_uppercase_route_on_wire/client/0', [{ offset: 0, frame: expect.objectContaining({ route: 'echo' }) }]],
  ])('decodes the vector %s', async (name, expected) => {
    const result = await decodeBytes(wire(name))
    expect(result).toMatchObject({ code: 0, err: '' })
    expect(records(result.out)).toEqual(expected)
  })

  it('decodes every vector from a file: one record per line that is not blank, at its offset', async () => {
    for (const vector of vectors) {
      const file = join(dir, `${vector.name.replaceAll('/', '_')}.bin`)
      await writeFile(file, vector.bytes)
      const { code, out } = await run('decode', file)
      const lines = records(out)
      const starts: number[] = []
      for (let start = 0; start < vector.bytes.length; ) {
        const lf = vector.bytes.indexOf(0x0a, start)
        const end = lf === -1 ? vector.bytes.length : lf
        const line = vector.bytes.subarray(start, end)
        if (!(line.length === 0 || (line.length === 1 && line[0] === 0x0d))) starts.push(start)
        start = end + 1
      }
      expect(lines.map((line) => line['offset']), vector.name).toEqual(starts)
      expect(code, vector.name).toBe(lines.some((line) => 'error' in line) ? 1 : 0)
    }
    const bytes = Buffer.from(encodeRequest({ route: 'bin', id: '0000000000000001', data: new Uint8Array([0xff, 0x00]), wantsReply: false }))
    expect(records((await decodeBytes(bytes)).out)).toEqual([
      { offset: 0, frame: { type: 'request', route: 'bin', id: '0000000000000001', wantsReply: false, data: '/wA=', encoding: 'base64' } },
    ])
  })

  it('prints an error line where a line is not a frame or too long, goes on after the LF, and exits 1', async () => {
    const good = Buffer.from(encodeRequest({ route: 'echo', id: '0000000000000001', data: 'a', wantsReply: true }))
    const input = Buffer.concat([good, Buffer.from('garbage\n'), Buffer.from(`KARP_HEAD${'x'.repeat(200)}\n`), Buffer.from('\r\n\n'), good])
    const result = await decodeBytes(input, '--max-frame-bytes', '100')
    expect(result.code).toBe(1)
    const at = good.length
    expect(records(result.out)).toEqual([
      { offset: 0, frame: expect.objectContaining({ id: '0000000000000001' }) },
      { offset: at, error: { code: 'ERR_KARP_BAD_FRAME', message: 'line does not start with KARP_HEAD' } },
      { offset: at + 8, error: { code: 'ERR_KARP_FRAME_TOO_LARGE', message: expect.stringMatching(/over maxFrameBytes \(100\)$/) } },
      { offset: at + 8 + 210 + 3, frame: expect.objectContaining({ id: '0000000000000001' }) },
    ])
  })

  it('parses an unterminated last line as a frame, as at a peer end of stream', async () => {
    const result = await decodeBytes(wire('karp_raw_no_newline/client/0'))
    expect(result.code).toBe(0)
    expect(records(result.out)).toEqual([{ offset: 0, frame: expect.objectContaining({ type: 'request', route: 'echo' }) }])
    const cut = await decodeBytes(Buffer.from('KARP_HEADecho01'))
    expect(records(cut.out)).toEqual([{ offset: 0, error: expect.objectContaining({ code: 'ERR_KARP_BAD_FRAME' }) }])
  })

  it('exits 2 on a file it cannot read', async () => {
    const result = await run('decode', join(dir, 'absent.bin'))
    expect(result.code).toBe(2)
    expect(result.err).toMatch(/^karp: cannot read .*absent\.bin \(ERR_PROTO_CLI_READ\)\n {2}cause: .* \(ENOENT\)\n$/)
  })

  // Peak RSS of the child, measured on Node 20.20: 57 MiB for 1 MiB of input, 72 for 64 MiB, 86
  // for 256 MiB and 91 for 1 GiB, where V8's heap stops growing; for 1 GiB, 83 on Node 22 and 104 on
  // Node 24. Buffering the input would pass 1 GiB.
  const MAX_RSS_MIB = 128

  it('decodes 1 GiB from stdin in a child process with flat memory', async () => {
    // One MiB of frames: 1024 request lines of 1024 bytes, LF included (a 726-byte payload).
    const frame = Buffer.from(encodeRequest({ route: 'blk', id: '1234567890123456', data: 'k'.repeat(726), wantsReply: false }))
    expect(frame.length).toBe(1024)
    const block = Buffer.alloc(1 << 20)
    for (let at = 0; at < block.length; at += 1024) frame.copy(block, at)
    const result = await streamThroughBin({ bin, args: ['decode', '-'], block, times: 1024 })
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.lines).toBe(1024 * 1024)
    expect(JSON.parse(result.lastLine)).toEqual({
      offset: 1024 ** 3 - 1024,
      frame: { type: 'request', route: 'blk', id: '1234567890123456', wantsReply: false, text: 'k'.repeat(726) },
    })
    expect(result.maxRssMiB).toBeGreaterThan(0)
    expect(result.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
  }, 300_000)
})

describe('the built bin', () => {
  it('serves, answers requests from other processes and exits 0 on SIGTERM', async () => {
    const server = await spawnServe(bin, ['serve', '--port', '0'])
    const target = server.address
    expect(target).toMatch(/^127\.0\.0\.1:\d+$/)
    const request = async (...args: string[]): Promise<{ code: number | null; out: string }> => {
      const child = spawn(process.execPath, [bin, 'request', target, ...args], { stdio: ['ignore', 'pipe', 'ignore'] })
      let text = ''
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (chunk: string) => (text += chunk))
      const [code] = (await once(child, 'close')) as [number | null]
      return { code, out: text }
    }
    expect(await Promise.all([request('echo', 'hi'), request('upper', 'hi'), request('fail')])).toEqual([
      { code: 0, out: 'hi\n' },
      { code: 0, out: 'HI\n' },
      { code: 1, out: '' },
    ])
    server.child.kill('SIGTERM')
    expect(await server.exit).toBe(0)
  })

  it('stops serving on SIGINT with a client connected and idle, within the grace', async () => {
    const server = await spawnServe(bin, ['serve', '--port', '0'])
    const port = Number(server.port)
    const idle = await RawClient.connect(port)
    await idle.write(encodeRequest({ route: 'echo', id: '0000000000000001', data: 'x', wantsReply: true }))
    expect(decodeFrame(await idle.line())).toMatchObject({ success: true })
    server.child.kill('SIGINT')
    expect(await server.exit).toBe(0)
    idle.destroy()
  })
})
