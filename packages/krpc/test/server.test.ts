import { once } from 'node:events'
import { stat } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { isProtoError } from '@proto/framing'
import type { ListenOptions } from '@proto/framing'
import { connect } from '../src/client.ts'
import { currentCall } from '../src/context.ts'
import { ErrorCode } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { KrpcServerOptions } from '../src/server.ts'
import type { KrpcContext, KrpcFile, KrpcMethods } from '../src/types.ts'
import { multipart, post, postCall, readAll, readResponse, sendRaw, spoolDir, startServer, wire } from './helpers.ts'
import type { Running } from './helpers.ts'

const running: Running[] = []

async function serve(options: KrpcServerOptions): Promise<Running> {
  const server = await startServer(options)
  running.push(server)
  return server
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()))
  vi.useRealTimers()
})

async function callRaw(port: number, text: string): Promise<unknown> {
  const res = await sendRaw(port, postCall(text))
  return JSON.parse(res.body.toString('utf8'))
}

describe('methods', () => {
  it('come from nested objects, dotted keys and handle(), called on their holder', async () => {
    const holder = {
      prefix: 'p:',
      tag(this: { prefix: string }, x: string) {
        return this.prefix + x
      },
    }
    const { port, server } = await serve({ handlers: {
      math: { add: (a: number, b: number) => a + b },
      'str.upper': (s: string) => s.toUpperCase(),
      // A holder may carry its own data, which is not a method.
      holder: holder as unknown as KrpcMethods,
    } })
    server.handle('late', function (this: unknown) {
      return this === undefined
    })
    expect(await callRaw(port, '{"method": "math.add", "params": [2, 3]}')).toEqual({ result: 5 })
    expect(await callRaw(port, '{"method": "str.upper", "params": ["a"]}')).toEqual({ result: 'A' })
    expect(await callRaw(port, '{"method": "holder.tag", "params": ["x"]}')).toEqual({ result: 'p:x' })
    expect(await callRaw(port, '{"method": "late"}')).toEqual({ result: true })
    expect(await callRaw(port, '{"method": "holder.prefix"}')).toMatchObject({ error: { code: -32601 } })
    expect(await callRaw(port, '{"method": "math"}')).toMatchObject({ error: { code: -32601 } })
    expect(await callRaw(port, '{"method": "toString"}')).toMatchObject({ error: { code: -32601 } })
    expect(await callRaw(port, '{"method": "__proto__"}')).toMatchObject({ error: { code: -32601 } })
    expect(await callRaw(port, '{"method": 5}')).toMatchObject({ error: { code: -32601 } })
  })

  it('refuse duplicates, empty names and non-functions with ERR_PROTO_USAGE', () => {
    const server = createServer({ handlers: { a: () => 1 } })
    expect(() => server.handle('a', () => 2)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => server.handle('', () => 2)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => server.handle('b', 5 as never)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => createServer({ handlers: { 'a.b': () => 1, a: { b: () => 2 } } })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it('receive positional, named, scalar or no arguments', async () => {
    const seen: unknown[][] = []
    const { port } = await serve({ handlers: { args: (...args: unknown[]) => seen.push(args) } })
    const params = ['[1, "a"]', '{"x": 1}', '"solo"', '7', 'true', 'null', 'false', '0', '""', '[]', '{}']
    for (const p of params) await callRaw(port, `{"method": "args", "params": ${p}}`)
    await callRaw(port, '{"method": "args"}')
    expect(seen).toEqual([[1, 'a'], [{ x: 1 }], ['solo'], [7], [true], [], [], [], [], [], [], []])
  })
})

describe('file arguments', () => {
  const boundary = 'B0undary'
  const send = (port: number, parts: Parameters<typeof multipart>[1]): Promise<unknown> =>
    sendRaw(port, post(multipart(boundary, parts), `multipart/form-data; boundary=${boundary}`))
      .then((res) => JSON.parse(res.body.toString('utf8')) as unknown)

  const describeFile = async (f: unknown): Promise<unknown> => {
    if (!(f instanceof Readable)) return f
    const file = f as KrpcFile
    return { field: file.field, filename: file.filename, mimeType: file.mimeType, data: (await readAll(file)).toString() }
  }

  it('replace top-level references in lists, objects and scalar params only', async () => {
    const { port } = await serve({ handlers: { show: async (...args: unknown[]) => {
      const out: unknown[] = []
      for (const arg of args) {
        if (typeof arg === 'object' && arg !== null && !(arg instanceof Readable) && !Array.isArray(arg)) {
          out.push(Object.fromEntries(await Promise.all(Object.entries(arg).map(async ([k, v]) => [k, await describeFile(v)]))))
        } else out.push(await describeFile(arg))
      }
      return out
    } } })
    const file = { name: '__file__:a', filename: 'dir/a.txt', type: 'text/csv', data: 'A' }
    expect(await send(port, [{ name: 'json', data: '{"method": "show", "params": ["__file__:a", ["__file__:a"], "x"]}' }, file]))
      .toEqual({ result: [{ field: '__file__:a', filename: 'a.txt', mimeType: 'text/csv', data: 'A' }, ['__file__:a'], 'x'] })
    expect(await send(port, [{ name: 'json', data: '{"method": "show", "params": {"doc": "__file__:a", "n": {"k": "__file__:a"}}}' }, file]))
      .toEqual({ result: [{ doc: { field: '__file__:a', filename: 'a.txt', mimeType: 'text/csv', data: 'A' }, n: { k: '__file__:a' } }] })
    expect(await send(port, [{ name: 'json', data: '{"method": "show", "params": "__file__:a"}' }, file]))
      .toEqual({ result: [{ field: '__file__:a', filename: 'a.txt', mimeType: 'text/csv', data: 'A' }] })
    // GET parameters are never references.
    const get = Buffer.from(`GET /?${new URLSearchParams({ json: '{"method": "show", "params": ["__file__:a"]}' }).toString()} HTTP/1.1\r\nHost: x\r\n\r\n`)
    expect(JSON.parse((await sendRaw(port, get)).body.toString())).toEqual({ result: ['__file__:a'] })
  })

  it('octet-stream parts without a filename are files; filename defaults to "" and type to text/plain', async () => {
    const { port } = await serve({ handlers: { show: describeFile } })
    expect(await send(port, [{ name: 'json', data: '{"method": "show", "params": ["__file__:a"]}' },
      { name: '__file__:a', type: 'application/octet-stream', data: 'x' }]))
      .toEqual({ result: { field: '__file__:a', filename: '', mimeType: 'application/octet-stream', data: 'x' } })
    expect(await send(port, [{ name: 'json', data: '{"method": "show", "params": ["__file__:a"]}' },
      { name: '__file__:a', filename: 'n', data: 'y' }]))
      .toEqual({ result: { field: '__file__:a', filename: 'n', mimeType: 'text/plain', data: 'y' } })
  })

  it("read the original client's tuple part types as the type inside, sent a byte at a time too", async () => {
    const { port } = await serve({ handlers: { upload_info: async (label: string, f: unknown) => [label, await describeFile(f)] } })
    const request = wire('file_upload_text_request')
    const field = /name="(__file__:[^"]+)"; filename/.exec(request.toString('latin1'))?.[1]
    const expected = { result: ['lbl', { field, filename: 'hello.txt', mimeType: 'text/plain', data: 'file content\nline2\n' }] }
    expect(JSON.parse((await sendRaw(port, request)).body.toString())).toEqual(expected)
    expect(JSON.parse((await sendRaw(port, [...request].map((byte) => Uint8Array.of(byte)))).body.toString())).toEqual(expected)
    expect(await send(port, [{ name: 'json', data: '{"method": "upload_info", "params": ["bin", "__file__:a"]}' },
      { name: '__file__:a', filename: 'a.bin', type: "('application/octet-stream', None)", data: 'x' }]))
      .toEqual({ result: ['bin', { field: '__file__:a', filename: 'a.bin', mimeType: 'application/octet-stream', data: 'x' }] })
  })

  it('spool a part that arrives while another is missing, and remove the temp file after the call', async () => {
    const dir = await spoolDir()
    let during: string[] = []
    let mode = 0
    const { port } = await serve({
      tmpDir: dir.path,
      handlers: {
        both: async (a: KrpcFile, b: KrpcFile) => {
          during = await dir.entries()
          mode = (await stat(`${dir.path}/${during[0] ?? ''}`)).mode & 0o777
          // Read the live part first: the spooled one waits on disk.
          const second = (await readAll(b)).toString()
          const first = (await readAll(a)).toString()
          return [first, second]
        },
      },
    })
    const result = await send(port, [
      { name: 'json', data: '{"method": "both", "params": ["__file__:x", "__file__:y"]}' },
      { name: '__file__:y', filename: 'y', data: 'second' },
      { name: '__file__:unused', filename: 'u', data: 'dropped' },
      { name: '__file__:x', filename: 'x', data: 'first' },
      { name: '__file__:x', filename: 'again', data: 'repeat is dropped' },
    ])
    expect(result).toEqual({ result: ['first', 'second'] })
    expect(during).toHaveLength(1)
    expect(mode).toBe(0o600)
    await running.pop()?.close()
    expect(await dir.entries()).toEqual([])
    await dir.remove()
  })

  it('start the method when the last part\'s headers arrive, before the rest of its data', async () => {
    let started: () => void = () => {}
    const startedPromise = new Promise<void>((resolve) => {
      started = resolve
    })
    const { port } = await serve({ handlers: { live: async (f: KrpcFile) => {
      started()
      return (await readAll(f)).toString()
    } } })
    const body = multipart(boundary, [{ name: 'json', data: '{"method": "live", "params": ["__file__:f"]}' },
      { name: '__file__:f', filename: 'f', data: 'streamed' }])
    // busboy holds back a trailing CRLF that might begin a boundary, so one data byte goes along.
    const split = body.indexOf('streamed') + 1
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`)
    socket.write(body.subarray(0, split))
    await startedPromise
    socket.write(body.subarray(split))
    const res = await readResponse(socket)
    socket.destroy()
    expect(JSON.parse(res.body.toString())).toEqual({ result: 'streamed' })
  })

  it('drain a live part the method left unread, keeping the connection', async () => {
    const { port } = await serve({ handlers: { ignore: () => 'ignored' } })
    const body = multipart(boundary, [{ name: 'json', data: '{"method": "ignore", "params": ["__file__:f"]}' },
      { name: '__file__:f', filename: 'f', data: Buffer.alloc(200_000, 1) }])
    const socket = net.connect({ port, host: '127.0.0.1' })
    const request = post(body, `multipart/form-data; boundary=${boundary}`)
    socket.write(request)
    expect(JSON.parse((await readResponse(socket)).body.toString())).toEqual({ result: 'ignored' })
    socket.write(postCall('{"method": "ignore"}'))
    const again = await readResponse(socket)
    socket.destroy()
    expect(JSON.parse(again.body.toString())).toEqual({ result: 'ignored' })
  })
})

describe('results', () => {
  it.each([
    ['Uint8Array', () => new Uint8Array([1, 2, 3]), '3'],
    ['ArrayBuffer', () => new Uint8Array([1, 2, 3]).buffer, '3'],
    ['Blob', () => new Blob([new Uint8Array([1, 2, 3])]), '3'],
    ['Readable', () => Readable.from([Buffer.from([1]), Buffer.from([2, 3])]), undefined],
    ['ReadableStream', () => new Blob([new Uint8Array([1, 2, 3])]).stream(), undefined],
  ])('a %s is a binary reply', async (_name, make, length) => {
    const { port } = await serve({ handlers: { bin: make } })
    const res = await sendRaw(port, postCall('{"method": "bin"}'))
    expect(res.headers['content-type']).toBe('application/octet-stream')
    expect(res.headers['content-length']).toBe(length)
    expect(res.headers['transfer-encoding']).toBe(length === undefined ? 'chunked' : undefined)
    expect([...res.body]).toEqual([1, 2, 3])
  })

  it('refuses non-plain results with -32003 before any header', async () => {
    const { port } = await serve({ handlers: { nested: () => ({ data: new Uint8Array(1) }), big: () => 1n, fn: () => () => 1 } })
    for (const [method, type] of [['nested', 'Uint8Array'], ['big', 'bigint'], ['fn', 'function']]) {
      const res = await sendRaw(port, postCall(`{"method": "${method}"}`))
      expect(res.status).toBe(200)
      expect(JSON.parse(res.body.toString())).toEqual({
        error: { code: -32003, message: 'Object is not JSON serializable.', info: `Object of type ${type} is not JSON serializable` },
      })
    }
  })

  it('answers -32001 when the server fails after the method, with a stack only when exposed', async () => {
    const methods = {
      badJson: () => ({ toJSON: () => { throw new Error('toJSON broke') } }),
      badStream: () => new Readable({ read() { this.destroy(new Error('stream broke')) } }),
    }
    const errors: unknown[] = []
    const plain = await serve({ handlers: methods })
    plain.server.on('handlerError', (err) => errors.push(err))
    for (const method of ['badJson', 'badStream']) {
      expect(await callRaw(plain.port, `{"method": "${method}"}`)).toEqual({ error: { code: -32001, message: 'Unhandled exception.' } })
    }
    expect(errors.map((e) => (e as Error).message)).toEqual(['toJSON broke', 'stream broke'])
    const exposed = await serve({ handlers: methods, exposeErrors: true })
    const body = await callRaw(exposed.port, '{"method": "badJson"}') as { error: { info: string } }
    expect(body.error.info).toMatch(/^Error: toJSON broke\n\s+at /)
  })

  it('cuts the connection when a binary reply fails after its first byte', async () => {
    const { port } = await serve({ handlers: { half: () => new Readable({
      read() {
        this.push(Buffer.from('part'))
        this.read = () => { this.destroy(new Error('gone')) }
      },
    }) } })
    await using client = await connect({ port })
    // Whether the head got out before the cut or not, the client never sees a complete reply.
    const read = async (): Promise<Uint8Array> => (await client.call('half') as { bytes(): Promise<Uint8Array> }).bytes()
    await expect(read()).rejects.toMatchObject({ code: ErrorCode.CLOSED })
  })

  it('sends a handler\'s error text only from an error marked public, its stack only with exposeErrors', async () => {
    const secret = (): never => {
      throw new Error("ENOENT: no such file or directory, open '/srv/secret/db-password.txt'")
    }
    const methods = {
      boom: () => { throw Object.assign(new RangeError('bad range'), { expose: true }) },
      secret,
      notPublic: () => { throw Object.assign(new Error('hidden'), { expose: 'yes' }) },
      str: () => { throw 'plain' }, // eslint-disable-line @typescript-eslint/only-throw-error
      obj: () => { throw { expose: true, toString: () => 'an object' } }, // eslint-disable-line @typescript-eslint/only-throw-error
    }
    const hidden = await serve({ handlers: methods, preMethodHook: (pmh) => {
      if (pmh === 'fail') throw new Error('the hook saw /etc/shadow')
    } })
    const handlerErrors: [unknown, KrpcContext][] = []
    hidden.server.on('handlerError', (err, ctx) => handlerErrors.push([err, ctx]))
    expect(await callRaw(hidden.port, '{"method": "boom"}')).toEqual({
      error: { code: -32000, message: 'Method call raised an exception.', info: 'RangeError: bad range' },
    })
    const internal = { error: { code: -32000, message: 'Method call raised an exception.', info: 'internal error' } }
    expect(await callRaw(hidden.port, '{"method": "secret"}')).toEqual(internal)
    expect(await callRaw(hidden.port, '{"method": "notPublic"}')).toEqual(internal)
    expect(await callRaw(hidden.port, '{"method": "str"}')).toEqual(internal)
    expect(await callRaw(hidden.port, '{"method": "obj"}')).toMatchObject({ error: { info: 'an object' } })
    expect(await callRaw(hidden.port, '{"method": "boom", "pmhparams": "fail"}')).toEqual(internal)
    expect(handlerErrors.map(([err, ctx]) => [err instanceof Error ? err.message : typeof err === 'string' ? err : 'object', ctx.method])).toEqual([
      ['bad range', 'boom'], ["ENOENT: no such file or directory, open '/srv/secret/db-password.txt'", 'secret'], ['hidden', 'notPublic'],
      ['plain', 'str'], ['object', 'obj'], ['the hook saw /etc/shadow', 'boom'],
    ])
    const exposed = await serve({ handlers: methods, exposeErrors: true })
    for (const method of ['boom', 'secret']) {
      const body = await callRaw(exposed.port, `{"method": "${method}"}`) as { error: { info: string } }
      expect(body.error.info).toMatch(/^(RangeError: bad range|Error: ENOENT.*)\n\s+at /)
    }
  })
})

describe('hook and context', () => {
  it('runs the hook before the lookup, with the context; currentCall() works in both', async () => {
    const order: string[] = []
    let hookCtx: KrpcContext | undefined
    const { port } = await serve({
      handlers: { who: async () => {
        await Promise.resolve()
        const ctx = currentCall()
        order.push(`method ${ctx.method}`)
        return [ctx.method, ctx.pmhparams, ctx.remote.address, ctx.request.method]
      } },
      preMethodHook: (pmhparams, ctx) => {
        hookCtx = ctx
        order.push(`hook ${ctx.method} ${JSON.stringify(pmhparams)} ${currentCall() === ctx}`)
      },
    })
    expect(await callRaw(port, '{"method": "who", "pmhparams": {"k": 1}}')).toEqual({ result: ['who', { k: 1 }, '127.0.0.1', 'POST'] })
    expect(await callRaw(port, '{"method": "missing"}')).toMatchObject({ error: { code: -32601 } })
    expect(order).toEqual(['hook who {"k":1} true', 'method who', 'hook missing undefined true'])
    expect(hookCtx?.signal.aborted).toBe(false)
    expect(() => currentCall()).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it('aborts ctx.signal when the peer goes away', async () => {
    let seen: AbortSignal | undefined
    let entered: () => void = () => {}
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const { port } = await serve({ handlers: { wait: () => {
      seen = currentCall().signal
      entered()
      return new Promise((resolve) => seen?.addEventListener('abort', resolve))
    } } })
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.write(postCall('{"method": "wait"}'))
    await inside
    socket.destroy()
    await once(seen as AbortSignal, 'abort')
    expect(isProtoError(seen?.reason)).toBe(true)
  })
})

describe('HTTP', () => {
  it('refuses other verbs, content types and malformed bodies with 501, 415, 400, and closes', async () => {
    const { port, server } = await serve({})
    const reported: string[] = []
    server.on('clientError', (err) => reported.push(`${err.code} ${(err as { status?: number }).status}`))
    const cases: [Buffer, number, string][] = [
      [Buffer.from('DELETE / HTTP/1.1\r\nHost: x\r\n\r\n'), 501, "Unsupported method ('DELETE')."],
      [post('{}', 'application/json'), 415, 'Unsupported Content-Type.'],
      [Buffer.from('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'), 415, 'Unsupported Content-Type.'],
      [post('--B\r\n', 'multipart/form-data'), 400, 'Malformed request body.'],
      [post('--B\r\nBad header\r\n\r\nx\r\n--B--\r\n', 'multipart/form-data; boundary=B'), 400, 'Malformed request body.'],
      [post('--B\r\nContent-Disposition: form-data; name="json"\r\n\r\n{}', 'multipart/form-data; boundary=B'), 400, 'Malformed request body.'],
      [post('json=%zz', 'application/x-www-form-urlencoded'), 400, 'Malformed request body.'],
      [post(multipart('B', [{ name: '__file__:a', filename: 'a', data: 'x' }, { name: 'json', data: '{}' }]), 'multipart/form-data; boundary=B'),
        400, "File part before the 'json' field."],
      [post(multipart('B', [{ name: 'other', data: 'x' }]), 'multipart/form-data; boundary=B'), 400, "Missing 'json' parameter."],
    ]
    for (const [request, status, info] of cases) {
      const res = await sendRaw(port, request)
      expect([res.status, JSON.parse(res.body.toString()) as unknown, res.closed]).toEqual([status, { error: { code: -32600, message: 'Invalid request.', info } }, true])
    }
    expect(reported).toEqual(cases.map(([, status]) => `${ErrorCode.BAD_REQUEST} ${status}`))
  })

  it('keeps connections alive and accepts chunked bodies', async () => {
    const { port } = await serve({})
    const socket = net.connect({ port, host: '127.0.0.1' })
    const form = new URLSearchParams({ json: '{"method": "echo", "params": ["chunked"]}' }).toString()
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n${form.length.toString(16)}\r\n${form}\r\n0\r\n\r\n`)
    const first = await readResponse(socket)
    socket.write(postCall('{"method": "echo", "params": ["again"]}'))
    const second = await readResponse(socket)
    socket.destroy()
    expect([first.body.toString(), second.body.toString(), first.closed]).toEqual(['{"result": "chunked"}', '{"result": "again"}', false])
  })

  it('refuses a transfer coding other than chunked with 501, and takes Chunked in any case', async () => {
    const { port, server } = await serve({})
    const errors: unknown[] = []
    server.on('clientError', (err) => errors.push(err))
    const form = new URLSearchParams({ json: '{"method": "echo", "params": ["coded"]}' }).toString()
    const chunked = `${form.length.toString(16)}\r\n${form}\r\n0\r\n\r\n`
    const head = (codings: string): string =>
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n${codings}\r\n`
    for (const codings of ['Transfer-Encoding: gzip, chunked\r\n', 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n',
      'Transfer-Encoding: identity,chunked\r\n']) {
      const res = await sendRaw(port, Buffer.from(head(codings) + chunked))
      expect([res.status, JSON.parse(res.body.toString()), res.closed]).toEqual([501,
        { error: { code: -32600, message: 'Invalid request.', info: 'Unsupported Transfer-Encoding.' } }, true])
    }
    const refused: unknown = expect.objectContaining({ code: ErrorCode.BAD_REQUEST, status: 501 })
    expect(errors).toEqual([refused, refused, refused])
    const res = await sendRaw(port, Buffer.from(head('Transfer-Encoding: Chunked\r\n') + chunked))
    expect([res.status, res.body.toString()]).toEqual([200, '{"result": "coded"}'])
  })

  it('answers early and drains the rest of the body', async () => {
    const { port } = await serve({})
    const body = multipart('B', [{ name: 'json', data: '{"method": "nosuch", "params": ["__file__:f"]}' },
      { name: '__file__:f', filename: 'f', data: Buffer.alloc(1_000_000) }])
    const socket = net.connect({ port, host: '127.0.0.1' })
    const request = post(body, 'multipart/form-data; boundary=B')
    const headEnd = request.indexOf('\r\n\r\n') + 4
    socket.write(request.subarray(0, headEnd + 300))
    const res = await readResponse(socket)
    expect(JSON.parse(res.body.toString())).toMatchObject({ error: { code: -32601 } })
    socket.write(request.subarray(headEnd + 300))
    socket.write(postCall('{"method": "echo", "params": [1]}'))
    const next = await readResponse(socket)
    socket.destroy()
    expect(next.body.toString()).toBe('{"result": 1}')
  })

  it('serves inside an existing node:http server through handler', async () => {
    const krpc = createServer({ handlers: { echo: (x: unknown) => x } })
    const host = http.createServer((req, res) => {
      if (req.url === '/other') res.end('other')
      else krpc.handler(req, res)
    })
    host.listen(0, '127.0.0.1')
    await once(host, 'listening')
    const { port } = host.address() as net.AddressInfo
    await using client = await connect({ url: `http://127.0.0.1:${port}/rpc` })
    expect(await client.call('echo', ['inside'])).toBe('inside')
    host.closeAllConnections()
    host.close()
    await krpc.close()
  })

  it('lets go of a call that handler gets after its connection has closed', async () => {
    const krpc = createServer({ handlers: { echo: (x: unknown) => x } })
    let handed: () => void = () => {}
    const handedOver = new Promise<void>((resolve) => {
      handed = resolve
    })
    // Node has told the request and its response that the socket closed before krpc sees them.
    const host = http.createServer((req, res) => {
      req.socket.destroy()
      req.once('close', () => {
        krpc.handler(req, res)
        handed()
      })
    })
    host.listen(0, '127.0.0.1')
    await once(host, 'listening')
    const { port } = host.address() as net.AddressInfo
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.on('error', () => {})
    socket.write(`GET /?json=${encodeURIComponent('{"method": "echo", "params": [1]}')} HTTP/1.1\r\nHost: x\r\n\r\n`)
    await handedOver
    await krpc.close()
    host.close()
    socket.destroy()
  })
})

describe('listen and close', () => {
  it('lets a call in flight finish, closes idle connections at once, then emits close', async () => {
    let release: () => void = () => {}
    let entered: () => void = () => {}
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const server = createServer({ handlers: { slow: () => new Promise((resolve) => {
      entered()
      release = () => resolve('done')
    }), echo: (x: unknown) => x } })
    const { port } = await server.listen({ port: 0 })
    const idle = net.connect({ port, host: '127.0.0.1' })
    idle.write(postCall('{"method": "echo", "params": [1]}'))
    await readResponse(idle)
    const busy = net.connect({ port, host: '127.0.0.1' })
    busy.write(postCall('{"method": "slow"}'))
    await inside
    const closeEvent = once(server, 'close')
    const closing = server.close()
    await once(idle, 'close')
    release()
    const res = await readResponse(busy)
    expect([res.body.toString(), res.headers.connection]).toEqual(['{"result": "done"}', 'close'])
    await closing
    await closeEvent
    await expect(sendRaw(port, postCall('{"method": "echo"}'))).rejects.toThrow()
  })

  it('destroys what is still open when the close signal aborts', async () => {
    let entered: () => void = () => {}
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const server = createServer({ handlers: { never: () => new Promise(() => entered()) } })
    const { port } = await server.listen({ port: 0 })
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.write(postCall('{"method": "never"}'))
    socket.on('error', () => {})
    await inside
    const stop = new AbortController()
    const closing = server.close({ signal: stop.signal })
    stop.abort()
    await closing
    await once(socket, 'close')
  })

  it('listens once, and honours an aborted signal', async () => {
    const server = createServer()
    await expect(server.listen({ port: 0, signal: AbortSignal.abort(new Error('stop')) })).rejects.toThrow('stop')
    const { host, port } = await server.listen({ port: 0 })
    expect(host).toBe('127.0.0.1')
    expect(port).toBeGreaterThan(0)
    await expect(server.listen({ port: 0 })).rejects.toMatchObject({ code: ErrorCode.LISTEN })
    await server.close()
    await expect(createServer().listen({ port: 0, hots: 'x' } as ListenOptions)).rejects.toThrow("unknown option 'hots' for listen()")
  })
})
