import { Buffer } from 'node:buffer'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { main, type CliIo } from '../src/cli.ts'
import { connect } from '../src/client.ts'
import { ErrorCode } from '../src/errors.ts'
import { createServer, type TejServer, type TejServerOptions } from '../src/server.ts'
import { wire } from './helpers.ts'

const cliPath = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

let dir = ''
const servers: TejServer[] = []
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tej-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close({ signal: AbortSignal.abort() })))
})

function capture(signal?: AbortSignal): CliIo & { out: () => string; err: () => string; firstLine: Promise<string> } {
  const out: string[] = []
  const err: string[] = []
  let onLine = (_line: string): void => undefined
  const firstLine = new Promise<string>((resolve) => {
    onLine = resolve
  })
  return {
    stdout: {
      write: (text: string) => {
        out.push(text)
        if (out.join('').includes('\n')) onLine(out.join('').split('\n')[0] ?? '')
      },
    },
    stderr: { write: (text: string) => err.push(text) },
    signal,
    out: () => out.join(''),
    err: () => err.join(''),
    firstLine,
  }
}

/** The port in `serve`'s first line, which must be exactly `listening 127.0.0.1:<port>`. */
async function listeningPort(io: { firstLine: Promise<string> }): Promise<number> {
  const match = /^listening 127\.0\.0\.1:(\d+)$/.exec(await io.firstLine)
  return match?.[1] === undefined ? expect.unreachable(await io.firstLine) : Number(match[1])
}

async function server(options: TejServerOptions): Promise<number> {
  const s = createServer(options)
  servers.push(s)
  return (await s.listen({ port: 0 })).port
}

const echo: TejServerOptions = {
  onFrame: async (frame, conn) => {
    await conn.send(await frame.buffer())
  },
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

describe('tej CLI', () => {
  it.each([['--help'], ['-h'], ['send', '--help'], ['serve', '-h']])('prints usage for %s and exits 0', async (...argv) => {
    const io = capture()
    expect(await main(argv, io)).toBe(0)
    expect(io.out()).toContain('Usage:')
    expect(io.err()).toBe('')
  })

  it.each([
    [[]],
    [['bogus']],
    [['send']],
    [['send', 'localhost']],
    [['send', '127.0.0.1:1', 'extra']],
    [['send', '127.0.0.1:1', '--nope']],
    [['send', '127.0.0.1:1', '--status', 'abc']],
    [['send', '127.0.0.1:1', '--expect', '-1']],
    [['send', '127.0.0.1:99999']],
    [['serve', '--port', 'x']],
  ])('exits 2 with usage on stderr for %j', async (argv) => {
    const io = capture()
    expect(await main(argv, io)).toBe(2)
    expect(io.err()).toContain('Usage:')
    expect(io.out()).toBe('')
  })

  it('sends a message and files, and prints the echo as a JSON line with hashes', async () => {
    const port = await server(echo)
    const text = join(dir, 'notes.txt')
    const binary = join(dir, 'blob.bin')
    const blob = Buffer.alloc(300_000, 0xab)
    await writeFile(text, 'hello file')
    await writeFile(binary, blob)
    const io = capture()
    const code = await main(['send', `127.0.0.1:${port}`, '--message', 'héllo', '--file', text, '--file', binary, '--status', '7'], io)
    expect(io.err()).toBe('')
    expect(code).toBe(0)
    expect(io.out().split('\n').filter(Boolean).map((line) => JSON.parse(line) as unknown)).toEqual([
      {
        status: 7,
        message: 'héllo',
        files: [
          { name: 'notes.txt', size: 10, sha256: sha256(Buffer.from('hello file')) },
          { name: 'blob.bin', size: blob.length, sha256: sha256(blob) },
        ],
      },
    ])
  })

  it('waits for --expect frames, ignoring pings', async () => {
    const port = await server({
      onFrame: async (_frame, conn) => {
        await conn.ping()
        await conn.send({ status: 1, message: 'one' })
        await conn.send({ status: 2, message: 'a ping with content' })
        await conn.send({ status: 3, files: [{ name: 'f', data: 'x' }], message: 'two' })
      },
    })
    const io = capture()
    expect(await main(['send', `127.0.0.1:${port}`, '--expect', '2'], io)).toBe(0)
    expect(io.out()).toBe(
      `${JSON.stringify({ status: 1, message: 'one', files: [] })}\n` +
        `${JSON.stringify({ status: 3, message: 'two', files: [{ name: 'f', size: 1, sha256: sha256(Buffer.from('x')) }] })}\n`,
    )
  })

  it('exits 0 at once with --expect 0', async () => {
    const port = await server({ onFrame: () => undefined })
    const io = capture()
    expect(await main(['send', `127.0.0.1:${port}`, '--expect', '0', '--message', 'fire and forget'], io)).toBe(0)
    expect(io.out()).toBe('')
  })

  it('exits 2 when the server ends before the expected frames', async () => {
    const port = await server({
      onFrame: async (_frame, conn) => {
        await conn.send({ message: 'only one' })
        await conn.close()
      },
    })
    const io = capture()
    expect(await main(['send', `127.0.0.1:${port}`, '--expect', '2', '--json'], io)).toBe(2)
    const lines = io.out().split('\n').filter(Boolean)
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ message: 'only one' })
    expect(JSON.parse(lines[1] ?? '')).toMatchObject({ error: { code: ErrorCode.CLOSED } })
    expect(io.err()).toContain(ErrorCode.CLOSED)
  })

  it('exits 2 and prints a JSON error when it cannot connect', async () => {
    const port = await server(echo)
    await servers.pop()?.close()
    const io = capture()
    expect(await main(['send', `127.0.0.1:${port}`, '--json'], io)).toBe(2)
    expect(JSON.parse(io.out())).toMatchObject({ error: { code: ErrorCode.CONNECT } })
    expect(io.err()).toContain(ErrorCode.CONNECT)
  })

  it('exits 2 with ERR_TEJ_INVALID_STATUS for --status 128', async () => {
    const port = await server(echo)
    const io = capture()
    expect(await main(['send', `127.0.0.1:${port}`, '--status', '128'], io)).toBe(2)
    expect(io.err()).toContain(ErrorCode.INVALID_STATUS)
  })

  it('exits 2 with a TimeoutError when nothing comes back within --timeout', async () => {
    const port = await server({ onFrame: () => undefined })
    const io = capture()
    expect(await main(['send', `127.0.0.1:${port}`, '--timeout', '50', '--json'], io)).toBe(2)
    expect(JSON.parse(io.out())).toMatchObject({ error: { code: 'TimeoutError' } })
  })

  it('serve echoes frames, not pings, until its signal aborts', async () => {
    const stop = new AbortController()
    const io = capture(stop.signal)
    const serving = main(['serve', '--port', '0'], io)
    const port = await listeningPort(io)
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
    stop.abort()
    expect(await serving).toBe(0)
    await client.closed
  })

  it('serve reports bad peers on stderr', async () => {
    const stop = new AbortController()
    const io = capture(stop.signal)
    const serving = main(['serve', '--port', '0'], io)
    const raw = net.connect({ port: await listeningPort(io), host: '127.0.0.1' })
    raw.on('error', () => undefined)
    raw.write(wire('tej_protocol_version_2/server/0'))
    raw.resume()
    await once(raw, 'close')
    stop.abort()
    expect(await serving).toBe(0)
    expect(io.err()).toContain(ErrorCode.UNSUPPORTED_VERSION)
  })

  it('runs as a bin: serve prints its address, send talks to it, SIGTERM stops it', async () => {
    const serve = spawn(process.execPath, [cliPath, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const lines = createInterface({ input: serve.stdout })
    const [first] = (await once(lines, 'line')) as [string]
    const match = /^listening (127\.0\.0\.1):(\d+)$/.exec(first)
    expect(match).not.toBeNull()
    const send = spawn(process.execPath, [cliPath, 'send', `${match?.[1]}:${match?.[2]}`, '--message', 'bin'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let output = ''
    send.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const [sendCode] = (await once(send, 'exit')) as [number]
    expect(sendCode).toBe(0)
    expect(JSON.parse(output)).toEqual({ status: 0, message: 'bin', files: [] })
    serve.kill('SIGTERM')
    const [serveCode] = (await once(serve, 'exit')) as [number]
    expect(serveCode).toBe(0)
  })
})
