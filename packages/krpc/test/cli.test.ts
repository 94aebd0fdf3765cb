import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import net from 'node:net'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { DEFAULT_CLOSE_GRACE } from '@proto/framing/cli'
import { cliCases } from '@proto/framing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, main } from '../src/cli.ts'
import { captureDecoder } from '../src/decode.ts'
import { spoolDir, vectors } from './helpers.ts'

const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

function sink(): { stream: Writable; text(): string; bytes(): Buffer } {
  const chunks: Buffer[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk))
      stream.emit('written')
      callback()
    },
  })
  return { stream, text: () => Buffer.concat(chunks).toString('utf8'), bytes: () => Buffer.concat(chunks) }
}

async function run(argv: string[], stdin?: Buffer): Promise<{ status: number; stdout: string; stderr: string; raw: Buffer }> {
  const out = sink()
  const err = sink()
  const status = await main(argv, { stdout: out.stream, stderr: err.stream, ...(stdin === undefined ? {} : { stdin: Readable.from([stdin]) }) })
  return { status, stdout: out.text(), stderr: err.text(), raw: out.bytes() }
}

const stopServe = new AbortController()
let served: Promise<number>
let target: string
let dir: Awaited<ReturnType<typeof spoolDir>>

beforeAll(async () => {
  dir = await spoolDir()
  const out = sink()
  served = main(['serve', '--port', '0'], { stdout: out.stream, stderr: sink().stream, signal: stopServe.signal })
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (out.text().includes('\n')) resolve()
    }
    out.stream.on('written', check)
    check()
  })
  const first = out.text()
  expect(first).toMatch(/^listening 127\.0\.0\.1:\d+\n$/)
  target = first.trim().slice('listening '.length)
})

afterAll(async () => {
  stopServe.abort()
  expect(await served).toBe(0)
  await dir.remove()
})

/** An HTTP server on 127.0.0.1 whose KRPC error message holds terminal control sequences. */
async function hostilePeer() {
  const http = createHttpServer((_req, res) => {
    res.setHeader('Content-Type', 'application/json')
    res.end(JSON.stringify({ error: { code: -32000, message: 'owned \u001b]0;pwned\u0007 \u001b[2J', data: 'x' } }))
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  return { port: (http.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => http.close(() => resolve())) }
}

describe('the shared command-line table', () => {
  for (const conformance of cliCases({ bin, cli, client: (t) => ['call', t, 'echo', '1'], fakePeer: hostilePeer })) {
    it(conformance.name, () => conformance.run())
  }
})

describe('krpc call against krpc serve', () => {
  it('echo, add and a GET call print one JSON line and exit 0', async () => {
    expect(await run(['call', target, 'echo', '{"a": [1, "é"]}'])).toMatchObject({ status: 0, stdout: '{"a":[1,"é"]}\n', stderr: '' })
    expect(await run(['call', `http://${target}/`, 'add', '2', '3'])).toMatchObject({ status: 0, stdout: '5\n' })
    expect(await run(['call', target, 'add', '"a"', '"b"', '--get'])).toMatchObject({ status: 0, stdout: '"ab"\n' })
    expect(await run(['call', target, 'add', '1', '2', '--json'])).toMatchObject({ status: 0, stdout: '{"result":3}\n' })
    expect(await run(['call', target, 'echo', '--pmh', '{"k": 1}', '--timeout', '5000'])).toMatchObject({ status: 0, stdout: 'null\n' })
  })

  it('upload hashes a --file while it streams; echo of a file prints it raw', async () => {
    const path = join(dir.path, 'payload.bin')
    const data = Buffer.from('payload \x00\xff bytes', 'latin1')
    await writeFile(path, data)
    const upload = await run(['call', target, 'upload', '--file', path])
    expect(upload.status).toBe(0)
    expect(JSON.parse(upload.stdout)).toEqual({ name: 'payload.bin', size: data.length, sha256: createHash('sha256').update(data).digest('hex') })
    const echo = await run(['call', target, 'echo', '--file', path])
    expect([echo.status, echo.raw]).toEqual([0, data])
  })

  it('fail and a missing method exit 1 with the remote error; --json prints it', async () => {
    const fail = await run(['call', target, 'fail'])
    expect([fail.status, fail.stderr]).toEqual([1, 'krpc: Method call raised an exception. (ERR_KRPC_REMOTE)\n'])
    const json = await run(['call', target, 'nosuch', '--json'])
    expect(json.status).toBe(1)
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'ERR_KRPC_REMOTE' } })
  })

  it('a timeout says what timed out; a missing file or bad JSON exits 2', async () => {
    const silent = net.createServer(() => {})
    silent.listen(0, '127.0.0.1')
    await once(silent, 'listening')
    try {
      const res = await run(['call', `127.0.0.1:${(silent.address() as AddressInfo).port}`, 'echo', '1', '--timeout', '1'])
      expect(res.status).toBe(2)
      expect(res.stderr).toMatch(/^krpc: .*'echo'.* timed out after 1 ms \(ERR_KRPC_TIMEOUT\)\n/)
    } finally {
      silent.close()
    }
    expect((await run(['call', target, 'upload', '--file', join(dir.path, 'missing')])).status).toBe(2)
    const bad = await run(['call', target, 'echo', '{not json'])
    expect([bad.status, bad.stderr.split('\n')[0]]).toEqual([2, 'krpc: JSON_ARG is not JSON: {not json (ERR_PROTO_CLI_USAGE)'])
  })
})

describe('krpc serve', () => {
  it('exits 0 at once on the first SIGINT, beside a connection that has sent nothing', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const [first] = await once(child.stdout, 'data') as [Buffer]
    const port = Number(/^listening 127\.0\.0\.1:(\d+)\n/.exec(first.toString())?.[1])
    const idle = net.connect({ port, host: '127.0.0.1' })
    await once(idle, 'connect')
    const closed = once(idle, 'close')
    const signalled = performance.now()
    child.kill('SIGINT')
    const [status] = await once(child, 'exit') as [number]
    // A connection with no request in progress is let go at once, not after the close grace
    // that calls in progress get.
    expect([status, performance.now() - signalled < DEFAULT_CLOSE_GRACE]).toEqual([0, true])
    await closed
  })
})

describe('krpc decode', () => {
  const requests = vectors.filter((v) => v.direction === 'client->server' && v.bytes.length > 0)
  const responses = vectors.filter((v) => v.direction === 'server->client' && v.bytes.length > 0)

  it('decodes every request vector into one frame with its call, and every response into its result or error', async () => {
    for (const v of requests) {
      const res = await run(['decode', '-', '--direction', 'request'], v.bytes)
      const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { offset: number; frame?: { type: string; method: string }; error?: unknown })
      expect(res.status, `${v.name}: ${res.stdout}`).toBe(0)
      expect(lines[0]?.frame?.type).toBe('request')
    }
    const echo = requests.find((v) => v.name === 'echo_hello_request')
    const decoded = JSON.parse((await run(['decode'], echo?.bytes)).stdout) as { offset: number; frame: { call: unknown } }
    expect(decoded).toMatchObject({ offset: 0, frame: { type: 'request', method: 'POST', target: '/', call: { method: 'echo' } } })
    for (const v of responses) {
      const res = await run(['decode', '--direction', 'response'], v.bytes)
      expect(res.status, `${v.name}: ${res.stdout}`).toBe(0)
      expect((JSON.parse(res.stdout.split('\n')[0] ?? '') as { frame: { type: string } }).frame.type).toBe('response')
    }
    const reply = responses.find((v) => v.name === 'echo_hello_response')
    expect(JSON.parse((await run(['decode'], reply?.bytes)).stdout)).toMatchObject({ offset: 0, frame: { status: 200, result: 'hello world' } })
  })

  it('decodes pipelined requests at their offsets, whatever the chunking, and stops with an error line at garbage', async () => {
    const echo = requests.find((v) => v.name === 'echo_hello_request')?.bytes ?? Buffer.alloc(0)
    const chunked = Buffer.from('POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n'
      + '5\r\njson=\r\n1e\r\n%7B%22method%22%3A%22add%22%7D\r\n0\r\n\r\n')
    const capture = Buffer.concat([echo, chunked, Buffer.from('NOT HTTP\r\n\r\n')])
    const expected = [
      { offset: 0, frame: { type: 'request', call: { method: 'echo' } } },
      { offset: echo.length, frame: { type: 'request', call: { method: 'add' } } },
      { offset: echo.length + chunked.length, error: { code: 'ERR_KRPC_BAD_REQUEST' } },
    ]
    await fc.assert(fc.asyncProperty(fc.array(fc.nat(capture.length), { maxLength: 8 }), async (cuts) => {
      const decoder = captureDecoder({})
      const records: unknown[] = []
      let from = 0
      for (const cut of [...cuts.sort((a, b) => a - b), capture.length]) {
        records.push(...(await decoder.push(capture.subarray(from, cut), from)))
        from = cut
      }
      records.push(...(await decoder.end(capture.length)))
      expect(JSON.parse(JSON.stringify(records.map((r) => {
        const { error, ...rest } = r as { error?: { code: string } }
        return error === undefined ? rest : { ...rest, error: { code: error.code } }
      })))).toMatchObject(expected)
    }), { numRuns: 50 })
    const res = await run(['decode'], capture)
    expect(res.status).toBe(1)
  })
})
