import { createHash } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { duplexPair, randomChunkings, splitAt } from '@proto/framing/testing'
import { connect } from '../src/client.ts'
import type { KrpcFile } from '../src/types.ts'
import { createServer } from '../src/server.ts'
import { readAll, readResponse } from './helpers.ts'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

const krpc = createServer({ handlers: { inspect: async (...args: unknown[]) => {
  const out: unknown[] = []
  for (const arg of args) {
    if (typeof arg === 'object' && arg !== null && typeof (arg as KrpcFile).field === 'string' && typeof (arg as KrpcFile).pipe === 'function') {
      const file = arg as KrpcFile
      const data = await readAll(file)
      out.push({ field: file.field, filename: file.filename, mimeType: file.mimeType, size: data.length, sha256: sha256(data) })
    } else out.push(arg)
  }
  return out
} } })
// Not listening: each test connection is one end of an in-memory pair, so every chunk arrives
// on its own, exactly as cut.
const http1 = http.createServer(krpc.handler)

/** The bytes the client puts on the wire for a call, caught by a server that answers null. */
let capture: { port: number; next: () => Promise<Buffer>; close(): Promise<void> }

beforeAll(async () => {
  const requests: ((b: Buffer) => void)[] = []
  const server = net.createServer((socket) => {
    let data = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      const headEnd = data.indexOf('\r\n\r\n')
      if (headEnd === -1) return
      const length = Number(/content-length: (\d+)/i.exec(data.subarray(0, headEnd).toString('latin1'))?.[1])
      if (data.length < headEnd + 4 + length) return
      requests.shift()?.(data)
      data = Buffer.alloc(0)
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"result": null}')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  capture = {
    port: (server.address() as net.AddressInfo).port,
    next: () => new Promise((resolve) => requests.push(resolve)),
    close: () => new Promise((resolve) => {
      server.close(() => resolve())
    }),
  }
})

afterAll(async () => {
  await capture.close()
  await krpc.close()
})

async function wireOf(args: unknown[]): Promise<Buffer> {
  const client = await connect({ port: capture.port })
  const bytes = capture.next()
  await client.call('inspect', args)
  await client.close()
  return bytes
}

function write(end: Duplex, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => end.write(chunk, (err) => (err ? reject(err) : resolve())))
}

async function answer(chunks: readonly Uint8Array[]): Promise<unknown> {
  const [client, server] = duplexPair()
  http1.emit('connection', server)
  for (const chunk of chunks) await write(client, chunk)
  const res = await readResponse(client)
  client.destroy()
  return JSON.parse(res.body.toString('utf8'))
}

interface FileSpec {
  data: Uint8Array
  name: string
  type: string
}

const fileArb: fc.Arbitrary<FileSpec> = fc.record({
  // Bytes that look like boundaries and line ends are what a multipart parser trips on.
  data: fc.array(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(Buffer.from('\r\n--krpc-'), Buffer.from('\r\n'), Buffer.from('--'))), { maxLength: 4 })
    .map((pieces) => new Uint8Array(Buffer.concat(pieces))),
  name: fc.stringMatching(/^f[a-z é€"]{0,12}$/),
  type: fc.constantFrom('text/plain', 'application/octet-stream', 'image/png', ''),
})

const jsonArb = fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown)
  .filter((v) => !(typeof v === 'string' && v.startsWith('__file__:')))

const argsArb = fc.array(fc.oneof({ arbitrary: jsonArb, weight: 2 }, { arbitrary: fileArb.map((f) => ({ file: f })), weight: 1 }), { maxLength: 6 })
  .filter((args) => args.filter((a) => typeof a === 'object' && a !== null && 'file' in a).length <= 4)

function isFileSpec(value: unknown): value is { file: FileSpec } {
  return typeof value === 'object' && value !== null && 'file' in value && Object.keys(value).length === 1
    && typeof value.file === 'object'
}

function build(specs: unknown[]): { args: unknown[]; expected: unknown[] } {
  let n = 0
  const args: unknown[] = []
  const expected: unknown[] = []
  for (const spec of specs) {
    if (!isFileSpec(spec)) {
      args.push(spec)
      expected.push(spec)
      continue
    }
    const { data, name, type } = spec.file
    args.push(new File([data], name, { type }))
    expected.push({ field: `__file__:${++n}`, filename: name.replaceAll('"', '%22'), mimeType: type === '' ? 'application/octet-stream' : type, size: data.length, sha256: sha256(data) })
  }
  return { args, expected }
}

describe('calls with 0–4 files', () => {
  it('survive any chunking of the request', async () => {
    await fc.assert(fc.asyncProperty(argsArb, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 24 }), async (specs, cuts) => {
      const { args, expected } = build(specs)
      const wire = await wireOf(args)
      const offsets = [...new Set(cuts.map((c) => Math.floor(c * wire.length)))].sort((a, b) => a - b)
      expect(await answer(splitAt(wire, offsets))).toEqual({ result: expected })
    }), { numRuns })
  })

  it('survive one-byte chunks and seeded random ones', async () => {
    const { args, expected } = build([
      'label',
      { file: { data: new Uint8Array(Buffer.from('ABC\r\n--krpc-\r\nDEF')), name: 'a "b".txt', type: 'text/plain' } },
      7,
      { file: { data: new Uint8Array(300).fill(0x2d), name: 'fé€', type: '' } },
    ])
    const wire = await wireOf(args)
    for (const chunks of randomChunkings(wire, 42, 4)) expect(await answer(chunks)).toEqual({ result: expected })
  })
})
