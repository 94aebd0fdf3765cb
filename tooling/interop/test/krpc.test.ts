// KRPC against the Python original (krpc, 2015), both ways over 127.0.0.1: its KRPCClient
// against our server, our client against its forking KRPCServer, and raw HTTP for every bug of
// the original that our server fixes, with the original as the negative control.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadVectors } from '@proto/framing/testing'
import { temporaryDirectory } from '@proto/vitest-config/cleanup'
import { startDriver } from './driver.ts'
import type { Driver } from './driver.ts'
import { interopEnvironment } from './environment.ts'
import { krpcCallCli, krpcClient, krpcServer, pattern, sha256 } from './ours/krpc.ts'
import type { KrpcServerSide } from './ours/krpc.ts'
import { connectRaw } from './raw.ts'

interopEnvironment()

const vectors = loadVectors('krpc')
const wire = (name: string): Buffer => vectors.find((v) => v.name === name)?.bytes ?? expect.unreachable(name)

const UNICODE = 'héllo wörld ✓ 日本語 🎉'
const LARGE_TEXT = 'é✓'.repeat(16_384)
const UPLOAD = 6 * 1_048_576

async function originalClient(port: number): Promise<Driver> {
  const { driver } = await startDriver('krpc', 'krpc_client.py', [String(port)], 'ready', { TMPDIR: await temporaryDirectory('krpc-client-') })
  return driver
}

async function originalServer(...flags: string[]): Promise<{ driver: Driver; port: number }> {
  const { driver, ready } = await startDriver('krpc', 'krpc_server.py', flags, 'listening', { TMPDIR: await temporaryDirectory('krpc-server-') })
  return { driver, port: ready['port'] as number }
}

/** An HTTP reply read off a raw socket: `null` when the server closed without a byte. */
interface RawReply {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

/** Sends `request` and reads one reply: up to its Content-Length, or to the close. */
async function exchange(port: number, request: Uint8Array | string): Promise<RawReply | null> {
  const peer = await connectRaw(port)
  await peer.write(request)
  const complete = (all: Buffer): boolean => {
    const end = all.indexOf('\r\n\r\n')
    if (end === -1) return false
    const length = /\r\ncontent-length: *(\d+)/i.exec(all.subarray(0, end).toString('latin1'))
    return length !== null && all.length >= end + 4 + Number(length[1])
  }
  await Promise.race([peer.until(complete), peer.ended])
  const all = peer.bytes()
  if (all.length === 0) return null
  const end = all.indexOf('\r\n\r\n')
  const head = all.subarray(0, end).toString('latin1')
  return {
    status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]),
    contentType: /\r\ncontent-type: *([^\r]*)/i.exec(head)?.[1] ?? '',
    body: all.subarray(end + 4).toString('utf8'),
  }
}

/** A GET call as a raw request line, the call form-encoded into `json`. */
function get(call: unknown): string {
  return `GET /?${new URLSearchParams({ json: JSON.stringify(call) }).toString()} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`
}

// Both servers answer each call on its own (the original forks a process per request), so each
// describe block starts its servers and clients once.
describe('the original client against our server', () => {
  let server: KrpcServerSide
  let client: Driver
  beforeAll(async () => {
    server = await krpcServer()
    client = await originalClient(server.port)
  })

  it('calls with UTF-8, an empty string, a large string, numbers, named params and a dotted name', async () => {
    expect(await client.call('call', { method: 'echo', params: [UNICODE] })).toEqual({ result: UNICODE })
    expect(await client.call('call', { method: 'echo', params: [''] })).toEqual({ result: '' })
    expect(await client.call('call', { method: 'echo', params: [LARGE_TEXT] })).toEqual({ result: LARGE_TEXT })
    expect(await client.call('call', { method: 'concat', params: ['a', 'b', 'c'] })).toEqual({ result: 'a|b|c' })
    expect(await client.call('call', { method: 'add', params: [2, 3] })).toEqual({ result: 5 })
    // The original client unpacks each named value into two: only 2-character strings get through.
    expect(await client.call('call', { method: 'kw', named: { x: 'hi', y: 'yo' } })).toEqual({ result: 'hi+yo' })
    expect(await client.call('call', { method: 'sub.hello', params: ['bob'] })).toEqual({ result: 'hello bob' })
  })

  it('gets error replies: an unknown method, a method that throws, and a managed error as a result', async () => {
    expect(await client.call('call', { method: 'nosuch', params: ['x'] })).toEqual({ error: { code: -32601, message: 'Method not found.', info: null } })
    expect(await client.call('call', { method: 'fail' })).toEqual({ error: { code: -32000, message: 'Method call raised an exception.', info: 'Error: kaboom' } })
    expect(await client.call('call', { method: 'managed' })).toEqual({ result: { error: { code: 42, message: 'Answer', info: 'more' } } })
  })

  it('uploads two files, one of 6 MiB, checked by SHA-256', async () => {
    const files = [
      { name: 'big.bin', pattern_bytes: UPLOAD },
      { name: 'notes.txt', text: UNICODE },
    ]
    expect(await client.call('call', { method: 'upload_info', params: ['label'], files })).toEqual({
      result: {
        label: 'label',
        files: [
          { size: UPLOAD, sha256: sha256(pattern(UPLOAD)) },
          { size: Buffer.byteLength(UNICODE), sha256: sha256(UNICODE) },
        ],
      },
    })
  })

  it('uploads files whose part type is a Python tuple, which methods read as the type inside', async () => {
    const files = [{ name: 'data.bin', pattern_bytes: 300 }, { name: 'notes.txt', text: UNICODE }]
    expect(await client.call('call', { method: 'types', files })).toEqual({ result: ['application/octet-stream', 'text/plain'] })
  })

  it('passes its pmhparams to our pre-method hook', async () => {
    const before = server.hooked.length
    expect(await client.call('call', { method: 'echo', params: ['x'], pmhparams: { counter: 7 } })).toEqual({ result: 'x' })
    expect(await client.call('call', { method: 'echo', params: ['y'] })).toEqual({ result: 'y' })
    expect(server.hooked.slice(before)).toEqual([{ counter: 7 }, null])
  })

  it('reads a binary result that is text; one that is not fails in the original, as the spec records', async () => {
    expect(await client.call('call', { method: 'text' })).toEqual({ binary_text: 'plain text, sent as binary' })
    await expect(client.call('call', { method: 'binary', params: ['300'] })).rejects.toThrow(/UnicodeDecodeError/)
  })

  it('keeps many calls in flight', async () => {
    const calls = Array.from({ length: 12 }, (_, i) => ({ method: 'echo', params: [`${i} ${UNICODE}`] }))
    expect(await client.call('call_many', { calls })).toEqual(calls.map((call) => ({ result: call.params[0] })))
  })

  it('reports a client that resets in the middle of an upload, and answers the original client next', async () => {
    const peer = await connectRaw(server.port)
    const boundary = 'XyZbOuNdArY'
    await peer.write(
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 100000\r\n\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n{"method": "upload_info", "params": ["x", "__file__:f"]}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="__file__:f"; filename="f"\r\n\r\npartial`,
    )
    peer.reset()
    await server.clientError('ERR_KRPC_TRUNCATED')
    expect(await client.call('call', { method: 'echo', params: ['next'] })).toEqual({ result: 'next' })
  })
})

describe('our client against the original server', () => {
  let port: number
  beforeAll(async () => {
    ;({ port } = await originalServer())
  })

  it('POSTs calls with string params: UTF-8, a large string, several params, a dotted name', async () => {
    const client = await krpcClient(port)
    expect(await client.call('echo', { params: [UNICODE] })).toEqual({ result: UNICODE })
    expect(await client.call('echo', { params: [LARGE_TEXT] })).toEqual({ result: LARGE_TEXT })
    expect(await client.call('concat', { params: ['a', 'b', 'c'] })).toEqual({ result: 'a|b|c' })
    expect(await client.call('sub.hello', { params: ['bob'] })).toEqual({ result: 'hello bob' })
  })

  it('GETs calls with any params: numbers, named params, a scalar', async () => {
    const client = await krpcClient(port)
    expect(await client.call('add', { params: [2, 3], via: 'get' })).toEqual({ result: 5 })
    expect(await client.call('kw', { params: { x: 1, y: [2, 3] }, via: 'get' })).toEqual({ result: '1+[2, 3]' })
    expect(await client.call('echo', { params: 'solo', via: 'get' })).toEqual({ result: 'solo' })
  })

  it('gets falsy results as {}, as the spec records of the original', async () => {
    const client = await krpcClient(port)
    expect(await client.call('echo', { params: [''] })).toEqual({ result: {} })
    expect(await client.call('zero', { via: 'get' })).toEqual({ result: {} })
  })

  it('gets error replies: an unknown method, a method that raises, a managed error as a result', async () => {
    const client = await krpcClient(port)
    expect(await client.call('nosuch', { params: ['x'] })).toEqual({ error: { code: -32601, message: 'Method not found.' } })
    const failed = await client.call('fail', { params: [] })
    expect(failed).toMatchObject({ error: { code: -32000, message: 'Method call raised an exception.' } })
    expect((failed as { error: { info: string } }).error.info).toMatch(/^Traceback[^]*ValueError: kaboom\n$/)
    expect(await client.call('managed', { params: [] })).toEqual({ result: { error: { code: 42, message: 'Answer', info: 'more' } } })
  })

  it('uploads two files, one of 6 MiB, checked by SHA-256', async () => {
    const client = await krpcClient(port)
    const notes = Buffer.from(UNICODE)
    expect(await client.call('upload_info', { params: ['label'], files: [pattern(UPLOAD), notes] })).toEqual({
      result: {
        label: 'label',
        files: [
          { size: UPLOAD, sha256: sha256(pattern(UPLOAD)) },
          { size: notes.length, sha256: sha256(notes) },
        ],
      },
    })
  })

  it('reads a binary result', async () => {
    const client = await krpcClient(port)
    expect(await client.call('binary', { params: ['20000'] })).toEqual({ binary: pattern(20_000) })
  })

  it("sends pmhparams to the original's pre-method hook", async () => {
    const { port } = await originalServer('--hook')
    const client = await krpcClient(port)
    expect(await client.call('counter', { params: [], pmhparams: { counter: 7 } })).toEqual({ result: 7 })
    expect(await client.call('counter', { params: [] })).toEqual({ result: 'no counter' })
  })

  it('keeps many calls in flight', async () => {
    const client = await krpcClient(port)
    const texts = Array.from({ length: 12 }, (_, i) => `${i} ${UNICODE}`)
    expect(await Promise.all(texts.map((text) => client.call('echo', { params: [text] })))).toEqual(texts.map((result) => ({ result })))
  })

  it('answers `krpc call`, with a file', async () => {
    const file = join(await temporaryDirectory('krpc-call-'), 'notes.txt')
    await writeFile(file, UNICODE)
    expect(await krpcCallCli(port, 'echo', [UNICODE])).toMatchObject({ code: 0, stdout: `${JSON.stringify(UNICODE)}\n` })
    const uploaded = await krpcCallCli(port, 'upload_info', ['label'], [file])
    expect(uploaded.code).toBe(0)
    expect(JSON.parse(uploaded.stdout)).toEqual({ label: 'label', files: [{ size: Buffer.byteLength(UNICODE), sha256: sha256(UNICODE) }] })
  })

  it('reports the original dropping a POST with numbers as ERR_KRPC_CLOSED, as the spec records', async () => {
    const client = await krpcClient(port)
    expect(await client.call('add', { params: [2, 3] })).toEqual({ failed: 'ERR_KRPC_CLOSED' })
  })

  it('aborts an upload, closes, and the original goes on serving', async () => {
    const client = await krpcClient(port)
    const controller = new AbortController()
    const aborted = client.call('upload_info', { params: ['x'], files: [pattern(32 * 1_048_576)], signal: controller.signal })
    controller.abort(new Error('stop'))
    expect(await aborted).toEqual({ failed: 'stop' })
    await client.close()
    const next = await krpcClient(port)
    expect(await next.call('echo', { params: ['next'] })).toEqual({ result: 'next' })
  })
})

describe('original bugs our server fixes, with the original as the negative control', () => {
  let server: KrpcServerSide
  let port: number
  beforeAll(async () => {
    server = await krpcServer()
    ;({ port } = await originalServer())
  })

  it('takes any params in a POST (the original closes without a reply on anything but strings)', async () => {
    const cases: [string, unknown][] = [
      ['post_bool_result_request', ['list', 'of', 'str']],
      ['post_scalar_params_request', 'solo'],
    ]
    for (const [name, result] of cases) {
      expect(JSON.parse((await exchange(server.port, wire(name)))?.body ?? 'null')).toEqual({ result })
      expect(await exchange(port, wire(name))).toBeNull()
    }
  })

  it('answers text that is not JSON with -32700 (the original closes without a reply)', async () => {
    expect(JSON.parse((await exchange(server.port, wire('post_invalid_json_request')))?.body ?? 'null')).toMatchObject({ error: { code: -32700 } })
    expect(await exchange(port, wire('post_invalid_json_request'))).toBeNull()
  })

  it('answers a missing file part with -32002 (the original closes without a reply)', async () => {
    expect(JSON.parse((await exchange(server.port, wire('multipart_missing_file_part_request')))?.body ?? 'null')).toMatchObject({
      error: { code: -32002, info: '__file__:nope' },
    })
    expect(await exchange(port, wire('multipart_missing_file_part_request'))).toBeNull()
  })

  it('sends falsy results as they are (the original turns 0 into {})', async () => {
    const request = get({ method: 'zero' })
    expect(JSON.parse((await exchange(server.port, request))?.body ?? 'null')).toEqual({ result: 0 })
    expect(JSON.parse((await exchange(port, request))?.body ?? 'null')).toEqual({ result: {} })
  })

  it('keeps its internals from the peer: -32000 carries the error, not a traceback (the original sends its traceback)', async () => {
    const request = get({ method: 'fail' })
    expect(JSON.parse((await exchange(server.port, request))?.body ?? 'null')).toEqual({
      error: { code: -32000, message: 'Method call raised an exception.', info: 'Error: kaboom' },
    })
    expect(JSON.parse((await exchange(port, request))?.body ?? 'null').error.info).toMatch(/^Traceback \(most recent call last\):\n {2}File "/)
  })

  it('calls registered methods only (the original calls a _private attribute)', async () => {
    const request = get({ method: '_secret' })
    expect(JSON.parse((await exchange(server.port, request))?.body ?? 'null')).toMatchObject({ error: { code: -32601 } })
    expect(JSON.parse((await exchange(port, request))?.body ?? 'null')).toEqual({ result: 'exposed' })
  })

  it('answers a file part without a filename with -32002 (the original hands the method text)', async () => {
    const boundary = 'XyZbOuNdArY'
    const body =
      `--${boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n{"method": "upload_info", "params": ["x", "__file__:f1"]}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="__file__:f1"\r\n\r\nABC\r\n--${boundary}--\r\n`
    const request = `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
    expect(JSON.parse((await exchange(server.port, request))?.body ?? 'null')).toMatchObject({ error: { code: -32002 } })
    // Its method got a str where a file was meant, so it read text: here, without failing.
    expect(JSON.parse((await exchange(port, request))?.body ?? 'null')).toEqual({ result: { label: 'x', files: [{ size: 3, sha256: sha256('ABC') }] } })
  })

  it('answers an unsupported HTTP method with a JSON error (the original sends an HTML page)', async () => {
    const ours = await exchange(server.port, wire('put_method_request'))
    expect(ours).toMatchObject({ status: 501, contentType: 'application/json' })
    expect(JSON.parse(ours?.body ?? 'null')).toMatchObject({ error: { code: -32600 } })
    expect(await exchange(port, wire('put_method_request'))).toMatchObject({ status: 501, contentType: 'text/html;charset=utf-8' })
  })
})
