import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer as createHttpServer } from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CliIO } from '../src/cli/run.ts'
import { writeTestCertificate } from '../src/testing/certificate-files.ts'
import { listenLoopback } from '../src/testing/listen-loopback.ts'
import { OutputSink } from '../src/testing/output-sink.ts'
import { captureIO, runMain } from '../src/testing/run-main.ts'
import { serveMain } from '../src/testing/serve-main.ts'
import { spawnServe } from '../src/testing/spawn-serve.ts'
import { streamThroughBin } from '../src/testing/stream-through-bin.ts'

// A bin of a few lines: `serve` prints a listening line and waits for a signal, `say` prints its
// arguments, `count` counts the bytes of stdin, one line per MiB, `grow` holds all of stdin,
// `die` is killed before its exit handlers run, `late` leaves a child that writes to its stderr once
// it has exited.
const BIN = `
import process from 'node:process'
const [verb, ...args] = process.argv.slice(2)
if (verb === 'serve') {
  const timer = setInterval(() => {}, 1000)
  process.on('SIGTERM', () => { clearInterval(timer); process.exitCode = 0 })
  process.stdout.write(args[0] === 'bad' ? 'ready\\n' : 'listening ' + (args[0] ?? '127.0.0.1:4321') + '\\n')
} else if (verb === 'late') {
  const { spawn } = await import('node:child_process')
  spawn(process.execPath, ['-e', "process.stdin.on('end', () => process.stderr.write('written late')).resume()"], { stdio: ['pipe', 'ignore', 'inherit'] })
  process.exit(3)
} else if (verb === 'die') {
  process.kill(process.pid, 'SIGKILL')
} else if (verb === 'say') {
  process.stderr.write(args.join(' '))
  process.exitCode = 3
} else {
  let bytes = 0
  const held = []
  for await (const chunk of process.stdin) {
    if (verb === 'grow') held.push(chunk)
    for (let mib = Math.floor(bytes / 1048576), end = Math.floor((bytes + chunk.length) / 1048576); mib < end; mib++) process.stdout.write('MiB ' + (mib + 1) + '\\n')
    bytes += chunk.length
  }
  process.stderr.write(held.length > 0 ? 'held' : '')
}
`

let dir = ''
let bin = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'framing-testing-cli-'))
  bin = join(dir, 'bin.mjs')
  await writeFile(bin, BIN)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('OutputSink', () => {
  it('keeps the text and the bytes, a character split across writes decoded whole', async () => {
    const sink = new OutputSink()
    const bytes = Buffer.from('é\u0000\n', 'utf8')
    sink.write(bytes.subarray(0, 1))
    sink.write(bytes.subarray(1))
    sink.write(Buffer.from([0xff]))
    await new Promise<void>((resolve) => sink.end(resolve))
    expect(sink.bytes).toEqual(Buffer.concat([bytes, Buffer.from([0xff])]))
    expect(sink.text).toBe('é\u0000\n\ufffd')
  })

  it('resolves firstLine, holds and until once the output has them, not before', async () => {
    const sink = new OutputSink()
    const seen: string[] = []
    const first = sink.firstLine().then((line) => seen.push(`line ${line}`))
    const held = sink.holds('two').then(() => seen.push('holds two'))
    const matched = sink.until(/(\d+) ms/).then((match) => seen.push(`until ${match[1]}`))
    sink.write('one')
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual([])
    sink.write(' and\ntwo after 25 ms')
    await Promise.all([first, held, matched])
    expect(seen.sort()).toEqual(['holds two', 'line one and', 'until 25'])
    expect(await sink.firstLine()).toBe('one and')
  })

  it('resolves firstLine for a line that holds a CR or a line separator, which a regexp dot skips', async () => {
    const sink = new OutputSink()
    const first = sink.firstLine()
    sink.write('a\rb\u2028c\r\nnext\n')
    expect(await first).toBe('a\rb\u2028c\r')
  })
})

describe('runMain and captureIO', () => {
  const echoMain = async (argv: readonly string[], io: CliIO): Promise<number> => {
    for await (const chunk of io.stdin ?? []) io.stdout.write(chunk as Buffer)
    io.stdout.write(`${argv.join(' ')}\n`)
    io.stderr.write(io.signal?.aborted === true ? 'aborted\n' : 'running\n')
    return argv.length
  }

  it('resolves with the exit code and the text of stdout and stderr, with the stdin given', async () => {
    expect(await runMain(echoMain, ['a', 'b'])).toEqual({ code: 2, out: 'a b\n', err: 'running\n' })
    expect(await runMain(echoMain, ['x'], { stdin: Readable.from([Buffer.from('in:')]), signal: AbortSignal.abort() })).toEqual({ code: 1, out: 'in:x\n', err: 'aborted\n' })
  })

  it('gives the io with its sinks, and keeps what is passed besides', async () => {
    const signal = new AbortController().signal
    const { io, stdout, stderr } = captureIO({ signal })
    expect(io).toMatchObject({ stdout, stderr, signal })
    expect(await echoMain(['y'], io)).toBe(1)
    expect([stdout.text, stderr.text]).toEqual(['y\n', 'running\n'])
  })
})

describe('serveMain', () => {
  const serveLike = (line: string | undefined) => async (_argv: readonly string[], io: CliIO): Promise<number> => {
    if (line === undefined) {
      io.stderr.write('cannot listen\n')
      return 2
    }
    io.stdout.write(`${line}\n`)
    if (io.signal?.aborted !== true) await once(io.signal ?? new EventTarget(), 'abort')
    io.stderr.write('stopped\n')
    return 0
  }

  it('resolves with the address and port of the listening line, and stop() ends main', async () => {
    const serving = await serveMain(serveLike('listening 127.0.0.1:4321'), ['serve'])
    expect([serving.address, serving.port, serving.stdout.text]).toEqual(['127.0.0.1:4321', 4321, 'listening 127.0.0.1:4321\n'])
    serving.stop()
    expect(await serving.exit).toBe(0)
    expect(serving.stderr.text).toBe('stopped\n')
  })

  it('gives no port for a socket path', async () => {
    const serving = await serveMain(serveLike('listening /tmp/x.sock'), ['serve'])
    expect([serving.address, serving.port]).toEqual(['/tmp/x.sock', undefined])
    serving.stop()
    await serving.exit
  })

  it('rejects, saying why, when main exits first or prints another line first', async () => {
    await expect(serveMain(serveLike(undefined), ['serve', '--port', '1'])).rejects.toThrow('serve --port 1 exited with 2 before it listened: cannot listen')
    await expect(serveMain(serveLike('ready'), ['serve'])).rejects.toThrow('serve printed "ready" where the listening line belongs')
  })
})

describe('spawnServe', () => {
  it('resolves with the address once the child prints its listening line, and the child runs until a signal', async () => {
    const served = await spawnServe(bin, ['serve'])
    expect([served.address, served.port]).toEqual(['127.0.0.1:4321', 4321])
    expect(served.child.exitCode).toBeNull()
    served.child.kill('SIGTERM')
    expect(await served.exit).toBe(0)
  })

  it('rejects, saying why, when the child exits first or prints another line first', async () => {
    await expect(spawnServe(bin, ['say', 'no', 'keys'])).rejects.toThrow('say no keys exited with 3 before it listened: no keys')
    await expect(spawnServe(bin, ['serve', 'bad'])).rejects.toThrow('serve bad printed "ready" where the listening line belongs')
  })

  it('has read all of the stderr when it says why, even what arrives after the exit', async () => {
    await expect(spawnServe(bin, ['late'])).rejects.toThrow('late exited with 3 before it listened: written late')
  })
})

describe('streamThroughBin', () => {
  it('feeds the block the number of times, and gives the exit, the lines, the last one and the peak RSS', async () => {
    const result = await streamThroughBin({ bin, args: ['count'], block: Buffer.alloc(1 << 18, 1), times: 64 })
    expect(result).toMatchObject({ code: 0, stderr: '', lines: 16, lastLine: 'MiB 16' })
    expect(result.maxRssMiB).toBeGreaterThan(10)
    expect(result.maxRssMiB).toBeLessThan(1024)
  })

  it('measures the memory the child holds', async () => {
    const flat = await streamThroughBin({ bin, args: ['count'], block: Buffer.alloc(1 << 20, 1), times: 256 })
    const grown = await streamThroughBin({ bin, args: ['grow'], block: Buffer.alloc(1 << 20, 1), times: 256 })
    expect([flat.stderr, grown.stderr, grown.lines]).toEqual(['', 'held', 256])
    expect(grown.maxRssMiB - flat.maxRssMiB).toBeGreaterThan(128)
  })

  it('gives a null code and no peak RSS when a signal ends the child', async () => {
    const result = await streamThroughBin({ bin, args: ['die'], block: Buffer.alloc(1 << 16), times: 4 })
    expect(result).toMatchObject({ code: null, lines: 0, maxRssMiB: 0 })
  })

  it('ends when the child exits without reading all of its stdin', async () => {
    const result = await streamThroughBin({ bin, args: ['say', 'early'], block: Buffer.alloc(1 << 20), times: 64 })
    expect(result).toMatchObject({ code: 3, stderr: 'early', lines: 0, lastLine: '' })
  })
})

describe('writeTestCertificate', () => {
  it('writes the key, the certificate and the authority to PEM files in the folder', async () => {
    const files = await writeTestCertificate(dir)
    expect([files.keyFile, files.certFile, files.caFile]).toEqual([join(dir, 'key.pem'), join(dir, 'cert.pem'), join(dir, 'ca.pem')])
    expect(await readFile(files.keyFile, 'utf8')).toBe(files.key)
    expect(await readFile(files.certFile, 'utf8')).toBe(files.cert)
    expect(await readFile(files.caFile, 'utf8')).toBe(files.ca)
    expect(files.key).toMatch(/^-----BEGIN PRIVATE KEY-----/)
  })
})

describe('listenLoopback', () => {
  it('listens on 127.0.0.1 on a port of its own, and close() ends the open connections too', async () => {
    const server = net.createServer((socket) => socket.write('hi\n'))
    const peer = await listenLoopback(server)
    expect(server.address()).toMatchObject({ address: '127.0.0.1', port: peer.port })
    const client = net.connect({ port: peer.port, host: '127.0.0.1' })
    const [greeting] = (await once(client, 'data')) as [Buffer]
    expect(greeting.toString()).toBe('hi\n')
    const ended = once(client, 'close')
    await peer.close()
    await ended
    expect(server.listening).toBe(false)
  })

  it('takes an HTTP server', async () => {
    const peer = await listenLoopback(createHttpServer((_req, res) => res.end('ok')))
    const response = await fetch(`http://127.0.0.1:${peer.port}/`)
    expect(await response.text()).toBe('ok')
    await peer.close()
  })
})
