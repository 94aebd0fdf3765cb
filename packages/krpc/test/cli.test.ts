import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../src/cli.ts'
import { spoolDir } from './helpers.ts'

function sink(): { stream: Writable; text(): string; bytes(): Buffer } {
  const chunks: Buffer[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk))
      callback()
    },
  })
  return { stream, text: () => Buffer.concat(chunks).toString('utf8'), bytes: () => Buffer.concat(chunks) }
}

async function run(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string; raw: Buffer }> {
  const out = sink()
  const err = sink()
  const status = await main(argv, { stdout: out.stream, stderr: err.stream })
  return { status, stdout: out.text(), stderr: err.text(), raw: out.bytes() }
}

let stopServe: AbortController
let served: Promise<number>
let target: string
let dir: Awaited<ReturnType<typeof spoolDir>>

beforeAll(async () => {
  dir = await spoolDir()
  stopServe = new AbortController()
  const out = sink()
  let listening: (line: string) => void = () => {}
  const line = new Promise<string>((resolve) => {
    listening = resolve
  })
  out.stream.on('pipe', () => {})
  const original = out.stream.write.bind(out.stream)
  out.stream.write = ((chunk: string, ...rest: never[]) => {
    listening(String(chunk))
    return original(chunk, ...rest)
  }) as typeof out.stream.write
  served = main(['serve', '--port', '0'], { stdout: out.stream, stderr: sink().stream, signal: stopServe.signal })
  const first = await line
  expect(first).toMatch(/^listening 127\.0\.0\.1:\d+\n$/)
  target = first.trim().slice('listening '.length)
})

afterAll(async () => {
  stopServe.abort()
  expect(await served).toBe(0)
  await dir.remove()
})

describe('krpc call against krpc serve', () => {
  it('echo, add and a GET call print one JSON line and exit 0', async () => {
    expect(await run('call', target, 'echo', '{"a": [1, "é"]}')).toMatchObject({ status: 0, stdout: '{"a":[1,"é"]}\n', stderr: '' })
    expect(await run('call', `http://${target}/`, 'add', '2', '3')).toMatchObject({ status: 0, stdout: '5\n' })
    expect(await run('call', target, 'add', '"a"', '"b"', '--get')).toMatchObject({ status: 0, stdout: '"ab"\n' })
    expect(await run('call', target, 'add', '1', '2', '--json')).toMatchObject({ status: 0, stdout: '{"result":3}\n' })
    expect(await run('call', target, 'echo', '--pmh', '{"k": 1}', '--timeout', '5000')).toMatchObject({ status: 0, stdout: 'null\n' })
  })

  it('upload hashes a --file while it streams; echo of a file prints it raw', async () => {
    const path = join(dir.path, 'payload.bin')
    const data = Buffer.from('payload \x00\xff bytes', 'latin1')
    await writeFile(path, data)
    const upload = await run('call', target, 'upload', '--file', path)
    expect(upload.status).toBe(0)
    expect(JSON.parse(upload.stdout)).toEqual({ name: 'payload.bin', size: data.length, sha256: createHash('sha256').update(data).digest('hex') })
    const echo = await run('call', target, 'echo', '--file', path)
    expect([echo.status, echo.raw]).toEqual([0, data])
  })

  it('fail and add of mixed types exit 1 with the remote error', async () => {
    const fail = await run('call', target, 'fail')
    expect(fail.status).toBe(1)
    expect(fail.stderr).toBe('krpc: ERR_KRPC_REMOTE: Method call raised an exception. (-32000, "Error: fail")\n')
    const json = await run('call', target, 'fail', '--json')
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'ERR_KRPC_REMOTE', message: 'Method call raised an exception.', rpcCode: -32000, data: 'Error: fail' } })
    const add = await run('call', target, 'add', '1', '"x"', '--json')
    expect([add.status, JSON.parse(add.stdout)]).toEqual([1, { error: { code: 'ERR_KRPC_REMOTE', message: 'Method call raised an exception.', rpcCode: -32000, data: 'TypeError: add takes two numbers or two strings' } }])
    expect((await run('call', target, 'nosuch')).status).toBe(1)
  })

  it('a connection error or a missing file exits 2', async () => {
    const refused = await run('call', '127.0.0.1:1', 'echo', '1', '--json')
    expect(refused.status).toBe(2)
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'ERR_KRPC_CONNECT' } })
    expect((await run('call', target, 'upload', '--file', join(dir.path, 'missing'))).status).toBe(2)
  })
})

describe('usage', () => {
  it('--help prints usage to stdout and exits 0', async () => {
    for (const args of [['--help'], ['-h'], ['call', '--help']]) {
      const res = await run(...args)
      expect(res.status).toBe(0)
      expect(res.stdout).toContain('krpc call URL|HOST:PORT METHOD')
    }
  })

  it.each([
    [[]],
    [['frobnicate']],
    [['call', 'localhost:1']],
    [['call', 'localhost:1', 'echo', '{not json']],
    [['call', 'localhost:1', 'echo', '--pmh', 'nope']],
    [['call', 'localhost:1', 'echo', '--timeout', 'soon']],
    [['call', 'localhost:1', 'echo', '--bogus']],
    [['serve', '--port', 'x']],
  ])('%j is a usage mistake: usage on stderr, exit 2', async (args) => {
    const res = await run(...args)
    expect(res.status).toBe(2)
    expect(res.stdout).toBe('')
    expect(res.stderr).toContain('Usage:')
  })
})

describe('the built bin', () => {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

  it('serves until SIGTERM, then exits 0', async () => {
    expect(existsSync(cli), 'build the package first (npx tsc -p tsconfig.build.json)').toBe(true)
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const [first] = await once(child.stdout, 'data') as [Buffer]
    const address = /^listening (\S+)\n/.exec(first.toString())?.[1] ?? expect.unreachable(first.toString())
    const call = spawn(process.execPath, [cli, 'call', address, 'add', '40', '2'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    call.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const [callStatus] = await once(call, 'exit') as [number]
    expect([callStatus, output]).toEqual([0, '42\n'])
    child.kill('SIGTERM')
    const [status] = await once(child, 'exit') as [number]
    expect(status).toBe(0)
  })
})
