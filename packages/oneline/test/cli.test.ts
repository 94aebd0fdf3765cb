import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { main, USAGE } from '../src/cli.ts'
import { connect } from '../src/client.ts'
import { ErrorCode } from '../src/errors.ts'
import { Resources } from './helpers.ts'

const res = new Resources()
const serving: { stop: () => void; exit: Promise<number> }[] = []
afterEach(async () => {
  for (const { stop } of serving) stop()
  await Promise.all(serving.splice(0).map(({ exit }) => exit))
  await res.close()
})

/** An in-memory stdout/stderr, with a promise for the first line written to stdout. */
function capture(signal?: AbortSignal) {
  const out: string[] = []
  const err: string[] = []
  let firstLine = (_line: string): void => {}
  const listening = new Promise<string>((resolve) => (firstLine = resolve))
  const io = {
    stdout: {
      write: (text: string) => {
        out.push(text)
        firstLine(out.join('').split('\n')[0] ?? '')
      },
    },
    stderr: { write: (text: string) => err.push(text) },
    ...(signal === undefined ? {} : { signal }),
  }
  return { io, out: () => out.join(''), err: () => err.join(''), listening }
}

/** Runs `oneline serve` in process until the returned stop() is called. */
async function serve(...args: string[]) {
  const controller = new AbortController()
  const cap = capture(controller.signal)
  const exit = main(['serve', '--port', '0', ...args], cap.io)
  const line = await cap.listening
  const match = /^listening 127\.0\.0\.1:(\d+)$/.exec(line)
  expect(match, line).not.toBeNull()
  const stop = (): void => controller.abort()
  serving.push({ stop, exit })
  return { port: Number(match?.[1]), exit, stop, cap }
}

describe('usage', () => {
  it.each([['--help'], ['-h'], ['send', '--help'], ['serve', '-h']])('prints usage for %s and exits 0', async (...argv) => {
    const cap = capture()
    expect(await main(argv, cap.io)).toBe(0)
    expect(cap.out()).toBe(USAGE)
    expect(cap.err()).toBe('')
  })

  it.each([
    [[]],
    [['fly']],
    [['serve', '--json']],
    [['serve', '--port', 'x']],
    [['serve', '--port', '70000']],
    [['send']],
    [['send', '127.0.0.1:5001']],
    [['send', 'localhost', 'ping']],
    [['send', '127.0.0.1:0', 'ping']],
    [['send', '127.0.0.1:5001', 'ping', '--lines', '-1']],
    [['send', '127.0.0.1:5001', 'ping', '--timeout', '0']],
    [['send', '127.0.0.1:5001', 'ping', '--bogus']],
  ])('refuses %j with usage on stderr and exit 2', async (argv) => {
    const cap = capture()
    expect(await main(argv, cap.io)).toBe(2)
    expect(cap.err()).toContain(USAGE)
    expect(cap.out()).toBe('')
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

  it('ends with 0 on a shutdown command', async () => {
    const { port, exit } = await serve()
    const client = await connect({ port })
    await client.shutdown()
    expect(await exit).toBe(0)
  })

  it('passes shutdown to the handler with --no-shutdown, and strips CR with --strip-cr', async () => {
    const { port, exit, stop } = await serve('--no-shutdown', '--strip-cr')
    const client = await connect({ port })
    expect(await client.request('shutdown')).toEqual(['unknown: shutdown'])
    expect(await client.request('echo a\r')).toEqual(['a'])
    await client.close()
    stop()
    expect(await exit).toBe(0)
  })

  it('reports client errors on stderr', async () => {
    const { port, exit, stop, cap } = await serve()
    const c = await res.socket(port)
    c.write(`${'x'.repeat(70_000)}\n`)
    expect(await c.rest().catch(() => Buffer.alloc(0))).toHaveLength(0)
    stop()
    expect(await exit).toBe(0)
    expect(cap.err()).toContain(ErrorCode.LINE_TOO_LONG)
  })

  it('exits 2 when it cannot listen', async () => {
    const { port } = await res.server()
    const cap = capture()
    expect(await main(['serve', '--port', String(port)], cap.io)).toBe(2)
    expect(cap.err()).toContain('EADDRINUSE')
  })
})

describe('send', () => {
  it('prints N lines per command, then disconnects', async () => {
    const { port } = await serve()
    const cap = capture()
    expect(await main(['send', `127.0.0.1:${port}`, 'count 2', 'count 3', '--lines', '2'], cap.io)).toBe(0)
    expect(cap.out()).toBe('1\n2\n1\n2\n')
    const one = capture()
    expect(await main(['send', `127.0.0.1:${port}`, 'echo hello', 'nope'], one.io)).toBe(0)
    expect(one.out()).toBe('hello\nunknown: nope\n')
  })

  it('prints one JSON array per command with --json', async () => {
    const { port } = await serve()
    const cap = capture()
    expect(await main(['send', `127.0.0.1:${port}`, 'count 3', '--lines', '3', '--json'], cap.io)).toBe(0)
    expect(cap.out()).toBe('["1","2","3"]\n')
  })

  it('accepts [v6]:PORT', async () => {
    const cap = capture()
    // Nothing listens on the discard port of ::1: parsed, then refused.
    expect(await main(['send', '[::1]:9', 'ping'], cap.io)).toBe(2)
    expect(cap.err()).toContain(ErrorCode.CONNECT)
  })

  it('exits 2 with the error code when it cannot connect, also as JSON', async () => {
    const { port, stop, exit } = await serve()
    stop()
    await exit
    const cap = capture()
    expect(await main(['send', `127.0.0.1:${port}`, 'ping', '--json'], cap.io)).toBe(2)
    expect(cap.err()).toContain(ErrorCode.CONNECT)
    expect(JSON.parse(cap.out())).toEqual({ error: { code: ErrorCode.CONNECT, message: expect.stringContaining(String(port)) } })
  })

  it('exits 2 with TimeoutError when the reply does not come in --timeout', async () => {
    const { port } = await serve()
    const cap = capture()
    expect(await main(['send', `127.0.0.1:${port}`, 'echo one', '--lines', '2', '--timeout', '50', '--json'], cap.io)).toBe(2)
    expect(JSON.parse(cap.out())).toEqual({ error: { code: 'TimeoutError', message: expect.any(String) } })
  })
})

describe('the built bin', () => {
  const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

  it('serves until SIGTERM and sends from another process', async () => {
    expect(existsSync(bin), 'build the package first: dist/cli.js').toBe(true)
    const server = spawn(process.execPath, [bin, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const [line] = (await once(createInterface({ input: server.stdout }), 'line')) as [string]
    const address = /^listening (127\.0\.0\.1:\d+)$/.exec(line)?.[1] ?? expect.unreachable(line)

    const send = spawn(process.execPath, [bin, 'send', address, 'echo hello', 'count 1'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const output: Buffer[] = []
    send.stdout.on('data', (chunk: Buffer) => output.push(chunk))
    const [sendCode] = await once(send, 'exit')
    expect(sendCode).toBe(0)
    expect(Buffer.concat(output).toString()).toBe('hello\n1\n')

    server.kill('SIGTERM')
    const [serverCode] = await once(server, 'exit')
    expect(serverCode).toBe(0)
  })
})
