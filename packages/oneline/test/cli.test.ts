import { Buffer, isUtf8 } from 'node:buffer'
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
import type { CliIO } from '@proto/framing/cli'
import type { ServingMain } from '@proto/framing/testing'
import { captureIO, cliCases, listenLoopback, runMain, serveMain, silentServer, spawnServe, streamThroughBin, writeTestCertificate } from '@proto/framing/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { cli, main } from '../src/cli.ts'
import { connect } from '../src/client.ts'
import { ErrorCode } from '../src/errors.ts'
import { Resources, vectors } from './helpers.ts'

const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const res = new Resources()
const servers: ServingMain[] = []
let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oneline-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
afterEach(async () => {
  for (const { stop } of servers) stop()
  await Promise.all(servers.splice(0).map(({ exit }) => exit))
  await res.close()
})

const run = (argv: string[], extra: Partial<CliIO> = {}) => runMain(main, argv, extra)

/** Runs `oneline serve` in process until the returned stop() is called. */
async function serve(...args: string[]) {
  const serving = await serveAt('--port', '0', ...args)
  expect(serving.address).toMatch(/^127\.0\.0\.1:\d+$/)
  return { ...serving, port: serving.port ?? expect.unreachable(serving.address) }
}

/** Runs `oneline serve ...args` in process; resolves once it prints its listening line. */
async function serveAt(...args: string[]) {
  const serving = await serveMain(main, ['serve', ...args])
  servers.push(serving)
  return serving
}

/** A peer that answers ping with pong and any other command with terminal control sequences. */
async function hostilePeer(): Promise<{ port: number; close(): Promise<void> }> {
  return listenLoopback(
    net.createServer((socket) => {
      socket.on('error', () => {})
      createInterface({ input: socket }).on('line', (line) => {
        if (line === 'ping') socket.write('pong\n')
        else if (line === 'disconnect') socket.end()
        else socket.write('\u001b]0;pwned\u0007title \u001b[2Jcleared\n')
      })
    }),
  )
}

describe('the shared CLI table, on the built bin', () => {
  it('finds the build', () => {
    expect(existsSync(bin), 'build the package first: dist/cli.js').toBe(true)
  })

  for (const conformance of cliCases({ bin, cli, client: (target) => ['send', target, 'hello'], fakePeer: hostilePeer })) {
    it(conformance.name, () => conformance.run())
  }
})

describe('usage', () => {
  it.each([['--help'], ['-h']])('%s explains every command and exits 0', async (flag) => {
    const result = await run([flag])
    expect(result.code).toBe(0)
    expect(result.err).toBe('')
    for (const text of ['Usage: oneline serve [options]', 'Usage: oneline send (HOST:PORT | --socket PATH) COMMAND... [options]', 'Usage: oneline decode [FILE|-] [options]', '--allow-shutdown']) {
      expect(result.out).toContain(text)
    }
  })

  it.each([['send', '--help'], ['serve', '-h'], ['decode', '--help']])('%s %s explains that command alone', async (...argv) => {
    const result = await run(argv)
    expect(result.code).toBe(0)
    expect(result.err).toBe('')
    expect(result.out).toMatch(new RegExp(`^Usage: oneline ${argv[0]} `))
  })

  it('prints the version of the package', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, out: '0.0.0\n', err: '' })
  })

  it.each([
    [[], 'missing command: one of serve, send, decode'],
    [['fly'], 'unknown command fly'],
    [['serve', '--json'], 'unknown option --json'],
    [['serve', '--no-shutdown'], 'unknown option --no-shutdown'],
    [['serve', '--port', 'x'], '--port x is not an integer (0 to 65535)'],
    [['serve', '--port', '70000'], '--port 70000 is out of range (0 to 65535)'],
    [['serve', '--busy', 'refuse-all'], '--busy refuse-all is not one of queue, refuse'],
    [['serve', '--max-line-bytes', '0'], '--max-line-bytes 0 is out of range (1 or more)'],
    [['send'], 'missing HOST:PORT'],
    [['send', '127.0.0.1:5001'], 'missing COMMAND'],
    [['send', 'localhost', 'ping'], 'HOST:PORT expected, got localhost'],
    [['send', '127.0.0.1:0', 'ping'], 'the port of 127.0.0.1:0 is out of range (1 to 65535)'],
    [['send', '127.0.0.1:5001', 'ping', '--lines', '-1'], '--lines -1 is out of range (0 or more)'],
    [['send', '127.0.0.1:5001', 'ping', '--timeout', '0'], '--timeout 0 is out of range (1 or more)'],
    [['send', '127.0.0.1:5001', 'ping', '--bogus'], 'unknown option --bogus'],
    [['send', '127.0.0.1:5001', 'ping', '--line', '2'], 'unknown option --line, did you mean --lines?'],
  ])('refuses %j: "%s", usage on stderr, exit 2', async (argv, message) => {
    const result = await run(argv)
    expect(result.code).toBe(2)
    expect(result.out).toBe('')
    expect(result.err.split('\n')[0]).toBe(`oneline: ${message} (ERR_PROTO_CLI_USAGE)`)
    expect(result.err).toContain('Usage: oneline')
  })
})

describe('serve', () => {
  it('prints the listening line, serves the demo handler and stops on the signal with 0', async () => {
    const { port, exit, stop } = await serve()
    const client = await connect({ port })
    expect(await client.request('echo hello')).toEqual(['hello'])
    expect(await client.request('count 3', { lines: 3 })).toEqual(['1', '2', '3'])
    expect(await client.request('nope')).toEqual(['unknown: nope'])
    await client.close()
    stop()
    expect(await exit).toBe(0)
  })

  it('refuses shutdown by default: the command goes to the handler', async () => {
    const { port, exit, stop } = await serve()
    const client = await connect({ port })
    expect(await client.request('shutdown')).toEqual(['unknown: shutdown'])
    expect(await client.request('echo still here')).toEqual(['still here'])
    await client.close()
    stop()
    expect(await exit).toBe(0)
  })

  it('ends with 0 on a shutdown command with --allow-shutdown', async () => {
    const { port, exit } = await serve('--allow-shutdown')
    const client = await connect({ port })
    await client.shutdown()
    expect(await exit).toBe(0)
  })

  it('strips CR with --strip-cr', async () => {
    const { port, exit, stop } = await serve('--strip-cr')
    const client = await connect({ port })
    expect(await client.request('echo a\r')).toEqual(['a'])
    await client.close()
    stop()
    expect(await exit).toBe(0)
  })

  it('reports client errors on stderr, escaped, with --max-line-bytes as the limit', async () => {
    const { port, exit, stop, stderr } = await serve('--max-line-bytes', '8')
    const c = await res.socket(port)
    c.write('\u001b[2J too long\n')
    expect(await c.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    stop()
    expect(await exit).toBe(0)
    expect(stderr.text).toMatch(/^client 127\.0\.0\.1:\d+: line longer than maxLineBytes \(8 bytes\) \(ERR_ONELINE_LINE_TOO_LONG\)\n/)
  })

  it('closes a silent client after --idle-timeout', async () => {
    const { port, exit, stop, stderr } = await serve('--idle-timeout', '1')
    const c = await res.socket(port)
    expect(await c.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    stop()
    expect(await exit).toBe(0)
    expect(stderr.text).toContain(`(${ErrorCode.IDLE_TIMEOUT})`)
  })

  it('refuses a second client with --busy refuse, and holds no more than --max-queue waiting', async () => {
    const refusing = await serve('--busy', 'refuse')
    const first = await connect({ port: refusing.port })
    const second = await res.socket(refusing.port)
    expect(await second.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    await first.close()
    const queueless = await serve('--max-queue', '0')
    const active = await connect({ port: queueless.port })
    const waiting = await res.socket(queueless.port)
    expect(await waiting.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    await active.close()
    for (const s of [refusing, queueless]) {
      s.stop()
      expect(await s.exit).toBe(0)
      expect(s.stderr.text).toContain(`(${ErrorCode.BUSY})`)
    }
  })

  it('exits 2 with ERR_ONELINE_LISTEN, the system error as cause, when it cannot listen', async () => {
    const { port } = await res.server()
    const result = await run(['serve', '--port', String(port)])
    expect(result.code).toBe(2)
    expect(result.out).toBe('')
    expect(result.err).toMatch(new RegExp(`^oneline: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.* \\(ERR_ONELINE_LISTEN\\)\\n {2}cause: .*EADDRINUSE.* \\(EADDRINUSE\\)\\n$`))
  })
})

describe('serve and send: sockets, TLS, balancers and limits', () => {
  it('serves a unix socket with --socket, and send reaches it with --socket', async () => {
    const path = join(dir, 'serve.sock')
    const { address } = await serveAt('--socket', path)
    expect(address).toBe(path)
    expect(await run(['send', '--socket', path, 'count 2', '--lines', '2', '--json'])).toEqual({ code: 0, out: '["1","2"]\n', err: '' })
    expect(await run(['send', '--socket', path, 'echo through a file'])).toEqual({ code: 0, out: 'through a file\n', err: '' })
  })

  it('serves TLS with --tls-cert and --tls-key; send trusts it with --ca, and refuses it with --tls alone', async () => {
    const { keyFile, certFile, caFile } = await writeTestCertificate(dir)
    const { address } = await serve('--tls-cert', certFile, '--tls-key', keyFile)
    expect(await run(['send', address, 'echo sealed', '--ca', caFile])).toEqual({ code: 0, out: 'sealed\n', err: '' })
    const untrusted = await run(['send', address, 'echo sealed', '--tls'])
    expect(untrusted.code).toBe(2)
    expect(untrusted.err).toMatch(/^oneline: cannot connect to 127\.0\.0\.1:\d+: .*\(ERR_ONELINE_CONNECT\)\n/)
  })

  it('refuses --tls-cert without --tls-key', async () => {
    const result = await run(['serve', '--port', '0', '--tls-cert', join(dir, 'cert.pem')])
    expect(result.code).toBe(2)
    expect(result.err.split('\n')[0]).toBe('oneline: --tls-cert and --tls-key go together (ERR_PROTO_CLI_USAGE)')
  })

  it('reads a PROXY header with --proxy-protocol, and reports a connection without one, escaped', async () => {
    const { port, exit, stop, stderr } = await serve('--proxy-protocol', 'v1')
    const balanced = await res.socket(port)
    balanced.write(encodeProxyHeader({ version: 1, command: 'proxy', transport: 'tcp', source: { address: '198.51.100.9', port: 7 }, destination: { address: '127.0.0.1', port } }))
    balanced.write('echo via a balancer\n')
    expect(await balanced.line()).toBe('via a balancer\n')
    const direct = await res.socket(port)
    direct.write('\u001b[2J\r\n')
    expect(await direct.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    stop()
    expect(await exit).toBe(0)
    expect(stderr.text).toMatch(/^client 127\.0\.0\.1:\d+: .*\(ERR_ONELINE_PROXY_HEADER\)\n/)
    expect(stderr.text).not.toMatch(/\u001b/)
  })

  it('refuses connections past --max-connections, and closes a client whose replies pass --max-write-buffer-bytes', async () => {
    const { port, exit, stop, stderr } = await serve('--max-connections', '1', '--max-write-buffer-bytes', '64')
    const first = await res.socket(port)
    first.write('ping\n')
    await first.bytes(5)
    const second = await res.socket(port)
    expect(await second.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    first.write('count 100\n')
    expect(await first.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    stop()
    expect(await exit).toBe(0)
    expect(stderr.text).toContain(`(${ErrorCode.TOO_MANY_CONNECTIONS})`)
    expect(stderr.text).toContain('(ERR_PROTO_WRITE_BUFFER_FULL)')
  })

  it('gives up after --connect-timeout on a server that never finishes its TLS handshake, saying what timed out', async () => {
    const silent = await silentServer()
    try {
      const result = await run(['send', `127.0.0.1:${silent.port}`, 'ping', '--tls', '--connect-timeout', '100'])
      expect(result.code).toBe(2)
      expect(result.err).toBe(`oneline: connect to 127.0.0.1:${silent.port} timed out after 100 ms (${ErrorCode.TIMEOUT})\n`)
    } finally {
      await silent.close()
    }
  })
})

describe('send', () => {
  it('prints N lines per command, then disconnects', async () => {
    const { port } = await serve()
    expect(await run(['send', `127.0.0.1:${port}`, 'count 2', 'count 3', '--lines', '2'])).toEqual({ code: 0, out: '1\n2\n1\n2\n', err: '' })
    expect(await run(['send', `127.0.0.1:${port}`, 'echo hello', 'nope'])).toEqual({ code: 0, out: 'hello\nunknown: nope\n', err: '' })
  })

  it('prints one JSON array per command with --json', async () => {
    const { port } = await serve()
    expect(await run(['send', `127.0.0.1:${port}`, 'count 3', '--lines', '3', '--json'])).toEqual({ code: 0, out: '["1","2","3"]\n', err: '' })
  })

  it('accepts a bracketed address, as an IPv6 one is written', async () => {
    const { port } = await serve()
    expect(await run(['send', `[127.0.0.1]:${port}`, 'echo v6 form'])).toEqual({ code: 0, out: 'v6 form\n', err: '' })
  })

  it('prints what the server sends with its control characters escaped, and exact in JSON', async () => {
    const peer = await hostilePeer()
    try {
      const text = await run(['send', `127.0.0.1:${peer.port}`, 'x'])
      expect(text).toEqual({ code: 0, out: '\\x1b]0;pwned\\x07title \\x1b[2Jcleared\n', err: '' })
      const json = await run(['send', `127.0.0.1:${peer.port}`, 'x', '--json'])
      expect(json.out).toBe('["\\u001b]0;pwned\\u0007title \\u001b[2Jcleared"]\n')
    } finally {
      await peer.close()
    }
  })

  it('exits 2 with the error code when it cannot connect, also as JSON', async () => {
    const { port, stop, exit } = await serve()
    stop()
    await exit
    const result = await run(['send', `127.0.0.1:${port}`, 'ping', '--json'])
    expect(result.code).toBe(2)
    expect(result.err).toMatch(new RegExp(`^oneline: cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.* \\(${ErrorCode.CONNECT}\\)\\n {2}cause: .*ECONNREFUSED`))
    expect(JSON.parse(result.out)).toEqual({
      error: { code: ErrorCode.CONNECT, message: expect.stringMatching(new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`)), cause: expect.objectContaining({ code: 'ECONNREFUSED' }) },
    })
  })

  it('exits 2 with ERR_ONELINE_TIMEOUT, saying what timed out, when the reply does not come in --timeout', async () => {
    const { port } = await serve()
    const result = await run(['send', `127.0.0.1:${port}`, 'echo one', '--lines', '2', '--timeout', '50', '--json'])
    expect(result.code).toBe(2)
    const message = `request 'echo one' to 127.0.0.1:${port} timed out after 50 ms`
    expect(JSON.parse(result.out)).toEqual({ error: { code: ErrorCode.TIMEOUT, message } })
    expect(result.err).toBe(`oneline: ${message} (${ErrorCode.TIMEOUT})\n`)
  })

  it('stops waiting on the stop signal', async () => {
    let heard = (): void => {}
    const commandHeard = new Promise<void>((resolve) => (heard = resolve))
    // Answers ping, then takes the command in and never replies.
    const silent = net.createServer((socket) => {
      socket.on('error', () => {})
      createInterface({ input: socket }).on('line', (line) => (line === 'ping' ? socket.write('pong\n') : heard()))
    })
    silent.listen(0, '127.0.0.1')
    await once(silent, 'listening')
    try {
      const controller = new AbortController()
      const cap = captureIO({ signal: controller.signal })
      const exit = main(['send', `127.0.0.1:${(silent.address() as net.AddressInfo).port}`, 'anyone?', '--timeout', '60000'], cap.io)
      await commandHeard
      controller.abort(Object.assign(new Error('interrupted by SIGINT'), { code: 'ERR_PROTO_CLI_INTERRUPTED' }))
      expect(await exit).toBe(2)
      expect(cap.stderr.text).toBe('oneline: interrupted by SIGINT (ERR_PROTO_CLI_INTERRUPTED)\n')
    } finally {
      silent.close()
    }
  })
})

describe('decode', () => {
  const decodeBytes = (bytes: Buffer, ...args: string[]) => run(['decode', ...args], { stdin: Readable.from([bytes]) })
  const records = (out: string): unknown[] => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown)

  it.each([
    ['two_cmds_one_write_request', [{ offset: 0, frame: { text: 'ping' } }, { offset: 5, frame: { text: 'cmd01' } }]],
    ['empty_line_request', [{ offset: 0, frame: { text: '' } }]],
    ['non_utf8_byte_request', [{ offset: 0, frame: { data: 'YWL/Y2Q=', encoding: 'base64' } }]],
    ['utf8_multibyte_request', [{ offset: 0, frame: { text: 'héllo' } }]],
    ['nul_and_ctrl_request', [{ offset: 0, frame: { text: 'a\u0000b\tc' } }]],
    ['multi_response_request', [{ offset: 0, frame: { text: 'multi' } }]],
    ['no_response_response', []],
  ])('decodes the vector %s', async (name, expected) => {
    const vector = vectors.find((v) => v.name === name) ?? expect.unreachable(name)
    const result = await decodeBytes(vector.bytes)
    expect(result.code).toBe(0)
    expect(result.err).toBe('')
    expect(records(result.out)).toEqual(expected)
  })

  it.each(vectors.map((v) => [v.name, v] as const))('gives back every byte of %s, line by line, from a file', async (name, vector) => {
    const file = join(dir, `${name}.bin`)
    await writeFile(file, vector.bytes)
    const result = await run(['decode', file])
    expect(result.code).toBe(0)
    let offset = 0
    const rebuilt: Buffer[] = []
    for (const record of records(result.out) as { offset: number; frame: { text?: string; data?: string } }[]) {
      expect(record.offset).toBe(offset)
      const line = record.frame.text === undefined ? Buffer.from(record.frame.data ?? '', 'base64') : Buffer.from(record.frame.text)
      expect(record.frame.text === undefined).toBe(!isUtf8(line))
      rebuilt.push(line, Buffer.from('\n'))
      offset += line.length + 1
    }
    expect(Buffer.concat(rebuilt)).toEqual(vector.bytes)
  })

  it('prints an error line where a line is too long or cut short, goes on after the next LF, and exits 1', async () => {
    const result = await decodeBytes(Buffer.from('ping\nmuch too long\npong\nping'), '--max-line-bytes', '8')
    expect(result.code).toBe(1)
    expect(records(result.out)).toEqual([
      { offset: 0, frame: { text: 'ping' } },
      { offset: 5, error: { code: ErrorCode.LINE_TOO_LONG, message: 'line longer than maxLineBytes (8 bytes)' } },
      { offset: 19, frame: { text: 'pong' } },
      { offset: 24, error: { code: ErrorCode.CLOSED, message: 'input ended inside a frame after 4 bytes' } },
    ])
  })

  it('exits 2 on a file it cannot read', async () => {
    const result = await run(['decode', join(dir, 'absent.bin')])
    expect(result.code).toBe(2)
    expect(result.err).toMatch(/^oneline: cannot read .*absent\.bin \(ERR_PROTO_CLI_READ\)\n {2}cause: .* \(ENOENT\)\n$/)
  })

  // Peak RSS of the child, measured on Node 20: 54 MiB for 1 MiB of input, 67 for 64 MiB, then
  // 86 for 256 MiB, 512 MiB and 1 GiB alike, where V8's heap stops growing; for 1 GiB, 90 on
  // Node 22 and 99 on Node 24. Buffering the input would pass 1 GiB.
  const MAX_RSS_MIB = 128

  it('decodes 1 GiB from stdin in a child process with flat memory', async () => {
    // One MiB of lines, all valid: 1023 lines of text and one that is not UTF-8 (base64).
    const block = Buffer.alloc(1 << 20, 'x')
    for (let i = 1023; i < block.length; i += 1024) block[i] = 0x0a
    block[1024 * 1000] = 0xff
    const result = await streamThroughBin({ bin, args: ['decode', '-'], block, times: 1024 })
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.lines).toBe(1024 * 1024)
    expect(JSON.parse(result.lastLine)).toEqual({ offset: 1024 ** 3 - 1024, frame: { text: 'x'.repeat(1023) } })
    expect(result.maxRssMiB).toBeGreaterThan(0)
    expect(result.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
  }, 180_000)
})

describe('the built bin', () => {
  it('serves until SIGTERM and sends from another process', async () => {
    const server = await spawnServe(bin, ['serve', '--port', '0'])
    const address = server.address
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/)

    const send = spawn(process.execPath, [bin, 'send', address, 'echo hello', 'count 1'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const output: Buffer[] = []
    send.stdout.on('data', (chunk: Buffer) => output.push(chunk))
    const [sendCode] = await once(send, 'exit')
    expect(sendCode).toBe(0)
    expect(Buffer.concat(output).toString()).toBe('hello\n1\n')

    server.child.kill('SIGTERM')
    expect(await server.exit).toBe(0)
  })

  it('stops serving on SIGINT with a client connected and idle, within the grace', async () => {
    const server = await spawnServe(bin, ['serve', '--port', '0'])
    const idle = await res.socket(server.port ?? expect.unreachable(server.address))
    idle.write('ping\n')
    expect((await idle.bytes(5)).toString()).toBe('pong\n')
    server.child.kill('SIGINT')
    expect(await server.exit).toBe(0)
  })
})
