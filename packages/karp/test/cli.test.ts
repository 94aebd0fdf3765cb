import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../src/cli.ts'
import type { CliIo } from '../src/cli.ts'
import { connect } from '../src/client.ts'
import { createServer } from '../src/server.ts'
import { deferred } from './helpers.ts'

function capture(stop?: AbortSignal): { io: CliIo; out: () => string; err: () => string; listening: Promise<string> } {
  const out: string[] = []
  const err: string[] = []
  const listening = deferred<string>()
  return {
    io: {
      stdout: {
        write: (text: string) => {
          out.push(text)
          const match = /^listening (\S+)\n/.exec(text)
          if (match !== null) listening.resolve(match[1] ?? '')
        },
      },
      stderr: { write: (text: string) => err.push(text) },
      stop,
    },
    out: () => out.join(''),
    err: () => err.join(''),
    listening: listening.promise,
  }
}

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = capture()
  const code = await main(argv, c.io)
  return { code, out: c.out(), err: c.err() }
}

describe('karp serve and karp request, in process', () => {
  const stop = new AbortController()
  let target = ''
  let served: Promise<number>
  let serveOut: ReturnType<typeof capture>

  beforeAll(async () => {
    serveOut = capture(stop.signal)
    served = main(['serve', '--host', '127.0.0.1', '--port', '0'], serveOut.io)
    target = await serveOut.listening
  })

  afterAll(async () => {
    stop.abort()
    expect(await served).toBe(0)
  })

  it('prints exactly one listening line first', () => {
    expect(serveOut.out()).toMatch(/^listening 127\.0\.0\.1:\d+\n$/)
  })

  it('echo prints the payload and exits 0', async () => {
    expect(await run('request', target, 'echo', 'hello wörld')).toEqual({ code: 0, out: 'hello wörld\n', err: '' })
    expect(await run('request', target, 'ECHO')).toEqual({ code: 0, out: '\n', err: '' })
  })

  it('upper uppercases UTF-8 text', async () => {
    expect(await run('request', target, 'upper', 'straße')).toEqual({ code: 0, out: 'STRASSE\n', err: '' })
  })

  it('upper refuses bytes that are not UTF-8', async () => {
    const client = await connect({ port: Number(target.split(':')[1]) })
    await expect(client.request('upper', new Uint8Array([0xff]))).rejects.toMatchObject({ message: 'upper needs UTF-8 text' })
    await client.close()
  })

  it('fail exits 1 with the message on stderr', async () => {
    expect(await run('request', target, 'fail', 'x')).toEqual({ code: 1, out: '', err: 'karp: fail\n' })
  })

  it('an unknown route exits 1', async () => {
    expect(await run('request', target, 'nosuch')).toMatchObject({ code: 1, err: "karp: 'nosuch'\n" })
  })

  it('--json prints the success flag and data', async () => {
    expect(await run('request', target, 'echo', 'hi', '--json')).toEqual({ code: 0, out: '{"success":true,"data":"hi"}\n', err: '' })
    expect(await run('request', target, 'fail', '--json')).toEqual({
      code: 1,
      out: '{"success":false,"data":"fail"}\n',
      err: 'karp: fail\n',
    })
  })

  it('--no-reply sends a notification and exits 0 without output', async () => {
    expect(await run('request', target, 'echo', 'quiet', '--no-reply')).toEqual({ code: 0, out: '', err: '' })
  })

  it('an invalid route is a local error: exit 2, and a JSON error with --json', async () => {
    const result = await run('request', target, 'v2', '--json')
    expect(result.code).toBe(2)
    expect(JSON.parse(result.out)).toMatchObject({ error: { code: 'ERR_KARP_INVALID_ROUTE' } })
    expect(result.err).toMatch(/^karp: ERR_KARP_INVALID_ROUTE: /)
  })
})

describe('karp request, failures', () => {
  it('exits 2 when nothing listens', async () => {
    const probe = net.createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const { port } = probe.address() as net.AddressInfo
    await new Promise((resolve) => probe.close(resolve))
    const result = await run('request', `127.0.0.1:${port}`, 'echo', '--json')
    expect(result.code).toBe(2)
    expect(JSON.parse(result.out)).toMatchObject({ error: { code: 'ERR_KARP_CONNECT' } })
    expect(result.err).toMatch(/ECONNREFUSED/)
  })

  it('exits 2 on timeout', async () => {
    const server = createServer({ routes: { hang: () => new Promise(() => {}) } })
    const { port } = await server.listen({ port: 0 })
    const result = await run('request', `127.0.0.1:${port}`, 'hang', '--timeout', '50', '--json')
    expect(result.code).toBe(2)
    expect(JSON.parse(result.out)).toMatchObject({ error: { code: 'TimeoutError' } })
    await server.close({ signal: AbortSignal.abort() })
  })

  it('exits 2 when serve cannot bind', async () => {
    const server = createServer()
    const { port } = await server.listen({ port: 0 })
    const result = await run('serve', '--port', String(port))
    expect(result).toMatchObject({ code: 2, out: '' })
    expect(result.err).toMatch(/^karp: ERR_KARP_LISTEN: /)
    await server.close()
  })
})

describe('usage', () => {
  it('--help and -h print usage to stdout and exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const result = await run(flag)
      expect(result.code).toBe(0)
      expect(result.out).toMatch(/^Usage:\n {2}karp serve/)
      expect(result.err).toBe('')
    }
  })

  it.each([
    [[]],
    [['launch']],
    [['request']],
    [['request', '127.0.0.1:7755']],
    [['request', 'localhost', 'echo']],
    [['request', '127.0.0.1:99999', 'echo']],
    [['request', '127.0.0.1:7755', 'echo', 'a', 'b']],
    [['request', '127.0.0.1:7755', 'echo', '--timeout', '0']],
    [['request', '127.0.0.1:7755', 'echo', '--timeout', 'soon']],
    [['serve', '--port=-1']],
    [['serve', '--port', '-1']],
    [['serve', 'extra']],
    [['serve', '--bogus']],
  ])('%j is a usage mistake: usage on stderr, exit 2', async (argv) => {
    const result = await run(...argv)
    expect(result.code).toBe(2)
    expect(result.out).toBe('')
    expect(result.err).toMatch(/^karp: [\s\S]+\nUsage:/)
  })

  it('accepts a bracketed IPv6 target', async () => {
    const result = await run('request', '[::1]:1', 'echo', '--timeout', '1000')
    expect(result.code).toBe(2)
    expect(result.err).toMatch(/ERR_KARP_CONNECT: cannot connect to ::1:1/)
  })
})

describe('the built bin', () => {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

  it('serves, answers requests and exits 0 on SIGTERM', async () => {
    expect(existsSync(cli), 'dist/cli.js is missing: build the package first').toBe(true)
    const server = spawn(process.execPath, [cli, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    server.stdout.setEncoding('utf8')
    const target = await new Promise<string>((resolve, reject) => {
      server.stdout.on('data', (chunk: string) => {
        out += chunk
        const match = /^listening (\S+)\n/.exec(out)
        if (match !== null) resolve(match[1] ?? '')
      })
      server.once('exit', () => reject(new Error(`serve exited early: ${out}`)))
    })
    const request = async (...args: string[]): Promise<{ code: number | null; out: string }> => {
      const child = spawn(process.execPath, [cli, 'request', target, ...args], { stdio: ['ignore', 'pipe', 'ignore'] })
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
    server.kill('SIGTERM')
    const [code] = (await once(server, 'exit')) as [number | null]
    expect(code).toBe(0)
  })
})
