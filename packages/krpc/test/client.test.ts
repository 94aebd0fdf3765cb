import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { asFile, connect, isBinaryResult } from '../src/client.ts'
import type { BinaryResult, KrpcCallOptions, KrpcClient, KrpcConnectOptions, KrpcProxy } from '../src/client.ts'
import { DEFAULT_MAX_RESULT_BYTES, DEFAULT_TIMEOUT } from '../src/constants.ts'
import { currentCall } from '../src/context.ts'
import { ErrorCode, KrpcTimeoutError, RemoteError } from '../src/errors.ts'
import type { KrpcFile } from '../src/types.ts'
import type { KrpcServerOptions } from '../src/server.ts'
import { readAll, spoolDir, startServer } from './helpers.ts'
import type { Running } from './helpers.ts'

const running: Running[] = []
const clients: KrpcClient[] = []
const raw: http.Server[] = []

async function serve(options: KrpcServerOptions = {}): Promise<Running> {
  const server = await startServer(options)
  running.push(server)
  return server
}

async function client(options: Parameters<typeof connect>[0]): Promise<KrpcClient> {
  const c = await connect(options)
  clients.push(c)
  return c
}

/** A plain HTTP server answering every request with `handler`. */
async function httpServer(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler)
  raw.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as net.AddressInfo).port
}

afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await Promise.all(running.splice(0).map((s) => s.close()))
  for (const server of raw.splice(0)) {
    server.closeAllConnections()
    server.close()
  }
})

const describeFile = async (f: KrpcFile): Promise<unknown> => {
  const data = await readAll(f)
  return { field: f.field, filename: f.filename, mimeType: f.mimeType, size: data.length, sha256: createHash('sha256').update(data).digest('hex') }
}
const sha = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex')

describe('calls', () => {
  it('call, methods and proxy reach dotted names; the proxy is not thenable', async () => {
    const { port } = await serve()
    const c = await client({ port })
    expect(await c.call('concat', ['a', 'b'])).toBe('a|b')
    expect(await c.call('return_zero')).toBe(0)
    expect(await c.methods.sub?.hello?.('bob')).toBe('hello bob')
    const viaGet = c.proxy<KrpcProxy>({ via: 'get' })
    expect(await viaGet.add?.(1, 2)).toBe(3)
    // Not thenable, so awaiting a proxy gives the proxy back.
    expect(await (c.methods as unknown as Promise<unknown>)).toBe(c.methods)
    expect(typeof c.methods.then).toBe('undefined')
    expect(await c.call('kw', { x: 1, y: [2] })).toEqual({ x: 1, y: [2] })
    expect(await c.call('echo', 'scalar')).toBe('scalar')
  })

  it('sends pmhparams and headers; defaults come from connect()', async () => {
    const seen: unknown[] = []
    const { url } = await serve({
      handlers: { who: () => currentCall().request.headers['x-token'] },
      preMethodHook: (pmh) => seen.push(pmh),
    })
    const c = await client({ url, headers: { 'X-Token': 't1' }, pmhparams: { counter: 1 } })
    expect(await c.call('who')).toBe('t1')
    expect(await c.call('who', [], { pmhparams: { counter: 2 } })).toBe('t1')
    expect(seen).toEqual([{ counter: 1 }, { counter: 2 }])
  })

  it('refuses bad input before sending anything', async () => {
    let requests = 0
    const port = await httpServer((_req, res) => {
      requests++
      res.end()
    })
    const c = await client({ port })
    await expect(c.call('echo', [10n])).rejects.toMatchObject({ code: ErrorCode.UNSERIALIZABLE })
    await expect(c.call('echo', [{ f: new Map() }])).rejects.toMatchObject({ code: ErrorCode.UNSERIALIZABLE })
    await expect(c.call('echo', [], { pmhparams: () => 1 })).rejects.toMatchObject({ code: ErrorCode.UNSERIALIZABLE })
    await expect(c.call(5 as unknown as string)).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(c.call('echo', [new Blob(['x'])], { via: 'get' })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(c.call('echo', [], { files: { '1bad': new Blob(['x']) } })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(c.call('echo', [], { files: { ok: 'not a file' as unknown as Blob } })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(c.call('echo', [], { timeout: -1 })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(c.call('echo', [], { timeout: 1.5 })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(c.call('echo', [], { timout: 5 } as KrpcCallOptions)).rejects.toThrow("unknown option 'timout' for call() (did you mean 'timeout'?)")
    await expect(c.call('echo', [], { timeout: 0 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT, name: 'TimeoutError' })
    await expect(c.call('echo', [], { via: 'put' as 'get' })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect({ url: 'ftp://x/' })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect({ conectTimeout: 5 } as KrpcConnectOptions)).rejects.toThrow("unknown option 'conectTimeout' for connect() (did you mean 'connectTimeout'?)")
    await expect(connect({ limits: { maxResultByte: 5 } } as KrpcConnectOptions)).rejects.toThrow("unknown option 'limits.maxResultByte'")
    await expect(connect({ connectTimeout: -1 })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect({ url: 'not a url' })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect({ signal: AbortSignal.abort(new Error('no')) })).rejects.toThrow('no')
    expect(() => asFile('path' as unknown as Blob)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => asFile(new Blob([]), { size: -1 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(requests).toBe(0)
  })
})

describe('file inputs', () => {
  it('Blob, File, Uint8Array, path, Readable, ReadableStream and asFile overrides', async () => {
    const dir = await spoolDir()
    const path = join(dir.path, 'on-disk.txt')
    await writeFile(path, 'from disk')
    const { port } = await serve({ handlers: { files: async (...files: KrpcFile[]) => Promise.all(files.map(describeFile)) } })
    const c = await client({ port })
    const result = await c.call('files', [
      new Blob(['blob'], { type: 'text/x-blob' }),
      new File(['file'], 'named.txt', { type: 'text/plain' }),
      new Uint8Array([1, 2, 3]),
      asFile({ path }),
      Readable.from([Buffer.from('read'), Buffer.from('able')]),
      new Blob(['web stream']).stream(),
      createReadStream(path),
      asFile(new Uint8Array([9]), { filename: 'a "quoted"\r\nname.bin', mimeType: 'image/png' }),
    ])
    await dir.remove()
    const file = (n: number, filename: string, mimeType: string, data: string | Uint8Array) =>
      ({ field: `__file__:${n}`, filename, mimeType, size: Buffer.from(data).length, sha256: sha(data) })
    expect(result).toEqual([
      file(1, 'blob', 'text/x-blob', 'blob'),
      file(2, 'named.txt', 'text/plain', 'file'),
      file(3, 'blob', 'application/octet-stream', new Uint8Array([1, 2, 3])),
      file(4, 'on-disk.txt', 'application/octet-stream', 'from disk'),
      file(5, 'blob', 'application/octet-stream', 'readable'),
      file(6, 'blob', 'application/octet-stream', 'web stream'),
      file(7, 'on-disk.txt', 'application/octet-stream', 'from disk'),
      file(8, 'a %22quoted%22%0D%0Aname.bin', 'image/png', new Uint8Array([9])),
    ])
  })

  it('sends Content-Length when every size is known, chunked otherwise', async () => {
    const seen: [string | undefined, string | undefined][] = []
    const { port } = await serve({ handlers: { n: () => {
      const { headers } = currentCall().request
      seen.push([headers['content-length'], headers['transfer-encoding']])
      return 0
    } } })
    const c = await client({ port })
    await c.call('n', [new Uint8Array(3), new Blob(['x'])])
    await c.call('n', [asFile(Readable.from([Buffer.from('abc')]), { size: 3 })])
    await c.call('n', [Readable.from([Buffer.from('abc')])])
    expect(seen[0]?.[0]).toMatch(/^\d+$/)
    expect(seen[1]?.[0]).toMatch(/^\d+$/)
    expect(seen[2]).toEqual([undefined, 'chunked'])
  })

  it('files in object params, a scalar file, and named parts for references written by hand', async () => {
    const { port } = await serve({ handlers: {
      obj: async (o: { doc: KrpcFile; n: number }) => [(await readAll(o.doc)).toString(), o.n],
      one: async (f: KrpcFile) => (await readAll(f)).toString(),
      named: async (label: string, f: KrpcFile) => [label, f.field, (await readAll(f)).toString()],
    } })
    const c = await client({ port })
    expect(await c.call('obj', { doc: new Blob(['in object']), n: 1 })).toEqual(['in object', 1])
    expect(await c.call('one', new Blob(['scalar']))).toBe('scalar')
    expect(await c.call('named', ['L', '__file__:my.doc'], { files: { 'my.doc': new Blob(['by name']) } })).toEqual(['L', '__file__:my.doc', 'by name'])
  })

  it('a sized source of the wrong length fails with ERR_KRPC_FILE_SIZE_MISMATCH', async () => {
    const { port } = await serve()
    const c = await client({ port })
    const stream = (text: string) => Readable.from([Buffer.from(text)])
    await expect(c.call('upload_info', ['x', asFile(stream('short'), { size: 10 })])).rejects.toMatchObject({ code: ErrorCode.FILE_SIZE_MISMATCH, expected: 10, actual: 5 })
    await expect(c.call('upload_info', ['x', asFile(stream('far too long'), { size: 3 })])).rejects.toMatchObject({ code: ErrorCode.FILE_SIZE_MISMATCH, expected: 3 })
    await expect(c.call('upload_info', ['x', asFile(new Uint8Array(4), { size: 3 })])).rejects.toMatchObject({ code: ErrorCode.FILE_SIZE_MISMATCH })
    expect(await c.call('upload_info', ['x', asFile(stream('exact'), { size: 5 })])).toMatchObject({ len: 5 })
  })

  it('an early reply stops the upload', async () => {
    const { port } = await serve()
    const c = await client({ port })
    let produced = 0
    const endless = new Readable({
      read() {
        produced += 65_536
        this.push(Buffer.alloc(65_536))
      },
    })
    await expect(c.call('nosuch', [endless])).rejects.toMatchObject({ code: ErrorCode.REMOTE, rpcCode: -32601 })
    expect(produced).toBeLessThan(64 * 1024 * 1024)
    expect(await c.call('echo', ['after'])).toBe('after')
  })
})

describe('replies', () => {
  it('binary results: size, stream(), bytes() once, cancel()', async () => {
    const { port } = await serve({ handlers: {
      bin: (n: number) => Buffer.alloc(n, 7),
      flow: () => Readable.from([Buffer.from('ab'), Buffer.from('c')]),
      echo: (x: unknown) => x,
    } })
    const c = await client({ port })
    const a = await c.call('bin', [5]) as BinaryResult
    expect(isBinaryResult(a)).toBe(true)
    expect(a.size).toBe(5)
    expect([...await a.bytes()]).toEqual([7, 7, 7, 7, 7])
    await expect(a.bytes()).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    const b = await c.call('flow') as BinaryResult
    expect(b.size).toBeUndefined()
    const chunks: Uint8Array[] = []
    for await (const chunk of b.stream() as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk)
    expect(Buffer.concat(chunks).toString()).toBe('abc')
    const d = await c.call('bin', [1_000_000]) as BinaryResult
    await d.cancel()
    expect(await c.call('echo', [1])).toBe(1)
    expect(isBinaryResult({ size: 1 })).toBe(false)
  })

  it('RemoteError carries rpcCode, data and status', async () => {
    const { port } = await serve()
    const c = await client({ port })
    const err = await c.call('raise_ioerror').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RemoteError)
    expect(err).toMatchObject({ name: 'RemoteError', code: ErrorCode.REMOTE, rpcCode: -32000, message: 'Method call raised an exception.', data: 'Error: Ooops!', status: 200 })
    await expect(c.call('echo', [], { via: 'get', files: {} })).resolves.toBeNull()
  })

  it.each([
    ['a non-2xx HTML page', 500, 'text/html', '<h1>no</h1>', ErrorCode.HTTP_STATUS],
    ['a non-2xx JSON body without error', 503, 'application/json', '{"x": 1}', ErrorCode.HTTP_STATUS],
    ['a 2xx text body', 200, 'text/plain', 'hi', ErrorCode.BAD_RESPONSE],
    ['a 2xx JSON body without result or error', 200, 'application/json', '{"x": 1}', ErrorCode.BAD_RESPONSE],
    ['a 2xx body that is not JSON', 200, 'application/json', '{"result": ', ErrorCode.BAD_RESPONSE],
    ['a 2xx reply without a type', 204, undefined, '', ErrorCode.BAD_RESPONSE],
    ['an error at a non-2xx status', 413, 'application/json', '{"error": {"code": -32005, "message": "File too large.", "info": "fileSize"}}', ErrorCode.REMOTE],
  ])('%s is %s', async (_what, status, type, body, code) => {
    const port = await httpServer((_req, res) => {
      res.writeHead(status, type === undefined ? {} : { 'Content-Type': type })
      res.end(body)
    })
    const c = await client({ port })
    await expect(c.call('x')).rejects.toMatchObject({ code, status })
  })

  it('no complete reply is ERR_KRPC_CLOSED, no server ERR_KRPC_CONNECT', async () => {
    const port = await httpServer((req) => {
      req.socket.destroy()
    })
    const c = await client({ port })
    await expect(c.call('x')).rejects.toMatchObject({ code: ErrorCode.CLOSED, cause: expect.anything() })
    const cut = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' })
      res.write('{"result"')
      setImmediate(() => res.destroy())
    })
    await expect((await client({ port: cut })).call('x')).rejects.toMatchObject({ code: ErrorCode.CLOSED })
    const probe = net.createServer()
    probe.listen(0, '127.0.0.1')
    await once(probe, 'listening')
    const free = (probe.address() as net.AddressInfo).port
    probe.close()
    await once(probe, 'close')
    await expect((await client({ port: free })).call('x')).rejects.toMatchObject({ code: ErrorCode.CONNECT, cause: expect.objectContaining({ code: 'ECONNREFUSED' }) })
  })

  it('maxResultBytes (default 16 MiB): larger JSON or binary bytes() is ERR_KRPC_RESULT_TOO_LARGE', async () => {
    const { port } = await serve({ handlers: {
      text: (n: number) => 'x'.repeat(n),
      bin: (n: number) => Buffer.alloc(n),
      flow: (n: number) => Readable.from([Buffer.alloc(n)]),
    } })
    const c = await client({ port })
    const overhead = '{"result": ""}'.length
    expect(await c.call('text', [DEFAULT_MAX_RESULT_BYTES - overhead])).toHaveLength(DEFAULT_MAX_RESULT_BYTES - overhead)
    await expect(c.call('text', [DEFAULT_MAX_RESULT_BYTES - overhead + 1])).rejects.toMatchObject({ code: ErrorCode.RESULT_TOO_LARGE, limit: DEFAULT_MAX_RESULT_BYTES })
    const bin = await c.call('bin', [DEFAULT_MAX_RESULT_BYTES + 1]) as BinaryResult
    await expect(bin.bytes()).rejects.toMatchObject({ code: ErrorCode.RESULT_TOO_LARGE })
    const small = await client({ port, limits: { maxResultBytes: 16 } })
    const flow = await small.call('flow', [17]) as BinaryResult
    await expect(flow.bytes()).rejects.toMatchObject({ code: ErrorCode.RESULT_TOO_LARGE, size: 17, limit: 16 })
    await expect(small.call('text', [3])).rejects.toMatchObject({ code: ErrorCode.RESULT_TOO_LARGE, size: 17 })
    expect(await small.call('text', [2])).toBe('xx')
  })
})

describe('timeouts, aborts and close', () => {
  const pending = () => {
    let entered: () => void = () => {}
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    let aborted: unknown
    const method = () => new Promise((resolve) => {
      const { signal } = currentCall()
      signal.addEventListener('abort', () => {
        aborted = signal.reason
        resolve(null)
      })
      entered()
    })
    return { inside, method, aborted: () => aborted }
  }

  it('timeout (default 30 s) rejects with KrpcTimeoutError, which says what timed out', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const wait = pending()
    const { port } = await serve({ handlers: { wait: wait.method } })
    const c = await client({ port })
    const call = c.call('wait')
    let settled: unknown
    call.catch((err: unknown) => {
      settled = err
    })
    await wait.inside
    await vi.advanceTimersByTimeAsync(DEFAULT_TIMEOUT - 1)
    expect(settled).toBeUndefined()
    const custom = c.call('wait', [], { timeout: 10 }).catch((err: unknown) => err)
    await vi.advanceTimersByTimeAsync(1)
    expect(settled).toBeInstanceOf(KrpcTimeoutError)
    expect(settled).toMatchObject({ name: 'TimeoutError', code: ErrorCode.TIMEOUT, message: "call 'wait' timed out after 30000 ms" })
    await vi.advanceTimersByTimeAsync(10)
    expect(await custom).toMatchObject({ name: 'TimeoutError', code: ErrorCode.TIMEOUT, timeout: 10 })
  })

  it('a timeout of 2^31 + 5 ms fires at its time and not before', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const wait = pending()
    const { port } = await serve({ handlers: { wait: wait.method } })
    const c = await client({ port, timeout: Number.POSITIVE_INFINITY })
    let settled: unknown
    c.call('wait', [], { timeout: 2 ** 31 + 5 }).catch((err: unknown) => {
      settled = err
    })
    await wait.inside
    await vi.advanceTimersByTimeAsync(2 ** 31 + 4)
    expect(settled).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(settled).toMatchObject({ code: ErrorCode.TIMEOUT, timeout: 2 ** 31 + 5 })
    // Infinity waits for ever: the default of this client.
    const stop = new AbortController()
    let other: unknown
    const waiting = c.call('wait', [], { signal: stop.signal }).catch((err: unknown) => {
      other = err
    })
    await vi.advanceTimersByTimeAsync(10 * DEFAULT_TIMEOUT)
    expect(other).toBeUndefined()
    stop.abort(new Error('enough'))
    await waiting
    expect(other).toMatchObject({ message: 'enough' })
  })

  it('an abort rejects with signal.reason, and the server method sees its signal abort', async () => {
    const wait = pending()
    const { port } = await serve({ handlers: { wait: wait.method } })
    const c = await client({ port })
    const controller = new AbortController()
    const call = c.call('wait', [], { signal: controller.signal })
    await wait.inside
    const reason = new Error('changed my mind')
    controller.abort(reason)
    await expect(call).rejects.toBe(reason)
    await vi.waitUntil(() => wait.aborted() !== undefined)
    expect(wait.aborted()).toMatchObject({ code: ErrorCode.CLOSED })
    await expect(c.call('echo', [1], { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
  })

  it('the timeout stops at a binary reply\'s headers; the caller\'s signal still ends the body', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { port } = await serve({ handlers: { trickle: () => {
      // The first chunk sends the headers; nothing follows until the caller gives up.
      const stream = new Readable({ read() {} })
      stream.push(Buffer.from('first'))
      return stream
    } } })
    const c = await client({ port })
    const controller = new AbortController()
    const binary = await c.call('trickle', [], { timeout: 1000, signal: controller.signal }) as BinaryResult
    vi.advanceTimersByTime(5000)
    const reader = binary.stream().getReader()
    expect(Buffer.from((await reader.read()).value ?? []).toString()).toBe('first')
    controller.abort(new Error('stop'))
    await expect(reader.read()).rejects.toMatchObject({ code: ErrorCode.CLOSED })
  })

  it('close() refuses new calls, waits for pending ones, then resolves closed', async () => {
    let release: (v: string) => void = () => {}
    let entered: () => void = () => {}
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const { port } = await serve({ handlers: { slow: () => new Promise((resolve) => {
      release = resolve
      entered()
    }), bin: () => Buffer.from('unread') } })
    const c = await connect({ port })
    const unread = await c.call('bin') as BinaryResult
    const call = c.call('slow')
    await inside
    const closing = c.close()
    await expect(c.call('echo', [1])).rejects.toMatchObject({ code: ErrorCode.CLOSED })
    release('finished')
    expect(await call).toBe('finished')
    await closing
    await c.closed
    await expect(unread.bytes()).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    expect(c.close()).toBe(closing)
  })

  it('close({ signal }) ends the calls and binary bodies still open once the signal aborts', async () => {
    let entered: () => void = () => {}
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const { port } = await serve({ handlers: {
      stuck: () => new Promise(() => entered()),
      trickle: () => {
        // The first chunk sends the headers; nothing follows.
        const stream = new Readable({ read() {} })
        stream.push(Buffer.from('first'))
        return stream
      },
    } })
    const c = await connect({ port })
    const binary = await c.call('trickle') as BinaryResult
    const reader = binary.stream().getReader()
    expect(Buffer.from((await reader.read()).value ?? []).toString()).toBe('first')
    const unread = await c.call('trickle') as BinaryResult
    const call = c.call('stuck')
    await inside
    const controller = new AbortController()
    const closing = c.close({ signal: controller.signal })
    const reason = new Error('no more waiting')
    controller.abort(reason)
    await expect(call).rejects.toMatchObject({ code: ErrorCode.CLOSED, cause: reason })
    await expect(reader.read()).rejects.toMatchObject({ code: ErrorCode.CLOSED })
    await closing
    await c.closed
    await expect(unread.bytes()).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    // An aborted signal given to a client already closed changes nothing.
    await c.close({ signal: AbortSignal.abort() })
  })

  it('headers that HTTP cannot carry are refused by connect(), before any request', async () => {
    let requests = 0
    const port = await httpServer((_req, res) => {
      requests++
      res.end()
    })
    for (const headers of [{ 'X-Bad': 'a\r\nb' }, { 'X Bad': 'a' }, { 'X-Bad': 'caf\u00e9 \u65e5' }, { 'X-Bad': 1 as unknown as string }]) {
      await expect(connect({ port, headers })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    }
    const c = await client({ port, headers: { 'X-Latin-1': 'caf\u00e9\tok' } })
    await expect(c.call('echo', [1])).rejects.toMatchObject({ code: ErrorCode.BAD_RESPONSE })
    expect(requests).toBe(1)
  })

  it('await using closes the client', async () => {
    const { port } = await serve()
    let closed: Promise<void> | undefined
    {
      await using c = await connect({ port })
      closed = c.closed
      expect(await c.call('echo', ['scoped'])).toBe('scoped')
    }
    await closed
  })
})
