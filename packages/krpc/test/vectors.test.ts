import { once } from 'node:events'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, isBinaryResult } from '../src/client.ts'
import type { BinaryResult } from '../src/types.ts'
import { encodeJson } from '../src/codec.ts'
import { ErrorCode } from '../src/errors.ts'
import {
  counterHook, multipart, post, postCall, sendRaw, startServer, vectors, wire, wireBody, wireCallText,
} from './helpers.ts'
import type { Running } from './helpers.ts'

let plain: Running
let hooked: Running
let hookCalls: unknown[]
let echoed: unknown[]

beforeAll(async () => {
  plain = await startServer()
  hookCalls = []
  echoed = []
  hooked = await startServer({
    handlers: {
      echo: (x: unknown) => {
        echoed.push(x)
        return x
      },
    },
    preMethodHook: (pmhparams) => {
      hookCalls.push(pmhparams)
      counterHook(pmhparams)
    },
  })
})

afterAll(async () => {
  await plain.close()
  await hooked.close()
})

describe('the server answers the original client byte for byte', () => {
  it.each([
    'echo_hello',
    'unknown_method',
    'dotted_method',
    'file_upload_text',
    'return_bytesio',
    'get_echo',
    'get_scalar_params',
    'post_uppercase_JSON_field',
    'post_no_method_key',
    'multipart_file_ref',
  ])('%s', async (name) => {
    const res = await sendRaw(plain.port, wire(`${name}_request`))
    expect(res.status).toBe(200)
    expect(res.body).toEqual(wireBody(`${name}_response`))
    expect(res.headers['content-length']).toBe(String(res.body.length))
  })

  it('hook_server_null_pmhparams: the hook runs with null, then the method', async () => {
    hookCalls.length = 0
    const res = await sendRaw(hooked.port, wire('hook_server_null_pmhparams_request'))
    expect(res.body).toEqual(wireBody('hook_server_null_pmhparams_response'))
    expect(hookCalls).toEqual([null])
  })

  it('return_bytesio: exactly application/octet-stream, with its length', async () => {
    const res = await sendRaw(plain.port, wire('return_bytesio_request'))
    expect(res.headers['content-type']).toBe('application/octet-stream')
    expect(res.body).toEqual(Buffer.from('000162696e617279ff', 'hex'))
  })

  it('echo_hello: a JSON reply is application/json with Content-Length', async () => {
    const res = await sendRaw(plain.port, wire('echo_hello_request'))
    expect(res.headers['content-type']).toBe('application/json')
    // The original client sends Connection: close, and gets it.
    expect(res.headers.connection).toBe('close')
  })
})

describe('what the spec says of each cited vector', () => {
  const json = async (request: Uint8Array, port = plain.port): Promise<unknown> => {
    const res = await sendRaw(port, request)
    expect(res.headers['content-type']).toBe('application/json')
    return JSON.parse(res.body.toString('utf8'))
  }

  it('concat_strings: several string arguments', async () => {
    expect(await json(wire('concat_strings_request'))).toEqual({ result: 'a|b|c' })
  })

  it('post_other_path: any path serves', async () => {
    expect(await json(wire('post_other_path_request'))).toEqual({ result: 'p' })
  })

  it('named_params_2char: object params arrive as one object argument', async () => {
    expect(await json(wire('named_params_2char_request'))).toEqual({ result: { x: 'hi', y: 'yo' } })
  })

  it('get_named_params: a GET with object params too', async () => {
    expect(await json(wire('get_named_params_request'))).toEqual({ result: { x: 1, y: [2, 3] } })
  })

  it('echo_with_pmhparams: a server without a hook ignores pmhparams', async () => {
    expect(await json(wire('echo_with_pmhparams_request'))).toEqual({ result: 'x' })
  })

  it('hook_server_with_pmhparams: the hook gets pmhparams, its result is ignored', async () => {
    hookCalls.length = 0
    const body = await json(postCall('{"method": "echo", "params": ["h"], "pmhparams": {"counter": 7}}'), hooked.port)
    expect(body).toEqual({ result: 'h' })
    expect(hookCalls).toEqual([{ counter: 7 }])
  })

  it('hook_server_bad_pmhparams: a hook that throws answers -32000 and the method does not run', async () => {
    echoed.length = 0
    const body = await json(wire('hook_server_bad_pmhparams_request'), hooked.port)
    expect(body).toEqual({
      error: { code: -32000, message: 'Method call raised an exception.', info: "TypeError: hook() got an unexpected keyword argument 'nope'" },
    })
    expect(echoed).toEqual([])
  })

  it('managed_exception: a managed error is a result', async () => {
    const res = await sendRaw(plain.port, wire('managed_exception_request'))
    expect(res.body.toString()).toBe('{"result": {"error": {"code": 42, "message": "Answer", "info": "more"}}}')
  })

  it('return_none, return_zero, get_no_params_key: falsy results go out as they are', async () => {
    expect(JSON.parse(wireBody('return_none_response').toString())).toEqual({ result: {} })
    expect((await sendRaw(plain.port, wire('return_none_request'))).body.toString()).toBe('{"result": null}')
    expect((await sendRaw(plain.port, postCall('{"method": "return_zero", "params": []}'))).body.toString()).toBe('{"result": 0}')
    const get = Buffer.from(`GET /?${new URLSearchParams({ json: '{"method": "return_zero"}' }).toString()} HTTP/1.1\r\nHost: x\r\n\r\n`)
    expect((await sendRaw(plain.port, get)).body.toString()).toBe('{"result": 0}')
  })

  it('unicode_echo: non-ASCII goes out as \\u escapes', async () => {
    const res = await sendRaw(plain.port, postCall('{"method": "echo", "params": ["h\\u00e9llo \\u20ac"]}'))
    expect(res.body).toEqual(wireBody('unicode_echo_response'))
  })

  it('file_upload_binary: all 256 byte values come back escaped as the original escapes them', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const body = multipart('B', [
      { name: 'json', data: '{"method": "upload_info", "params": ["bin", "__file__:f"]}' },
      { name: '__file__:f', filename: 'b.bin', type: 'application/octet-stream', data: bytes },
    ])
    const res = await sendRaw(plain.port, post(body, 'multipart/form-data; boundary=B'))
    expect(res.body).toEqual(wireBody('file_upload_binary_response'))
  })

  it('return_file: the uploaded file comes back binary', async () => {
    const res = await sendRaw(plain.port, wire('return_file_request'))
    expect(res.headers['content-type']).toBe('application/octet-stream')
    expect(res.body.toString()).toBe('file content\nline2\n')
  })

  it('multipart_echo_file_back: the bytes come back exactly', async () => {
    const res = await sendRaw(plain.port, wire('multipart_echo_file_back_request'))
    expect(res.headers['content-type']).toBe('application/octet-stream')
    expect(res.body).toEqual(Buffer.from('000102ff0d0a', 'hex'))
  })

  it('multipart_json_only_strings: a multipart body with only the call', async () => {
    const body = multipart('B', [{ name: 'json', data: '{"method": "concat", "params": ["1", "2", "3"]}' }])
    const res = await sendRaw(plain.port, post(body, 'multipart/form-data; boundary=B'))
    expect(res.body).toEqual(wireBody('multipart_json_only_strings_response'))
  })

  it('add_ints, post_scalar_params, post_bool_result: POST takes any params', async () => {
    expect(await json(postCall('{"method": "add", "params": [1, 2]}'))).toEqual({ result: 3 })
    expect(await json(wire('post_scalar_params_request'))).toEqual({ result: 'solo' })
    expect(await json(wire('post_bool_result_request'))).toEqual({ result: ['list', 'of', 'str'] })
    expect(await json(postCall('{"method": "return_zero"}'))).toEqual({ result: 0 })
  })

  it('get_add_ints: GET with numbers to any path', async () => {
    const get = Buffer.from(`GET /any/where?${new URLSearchParams({ json: '{"method": "add", "params": [1, 2]}' }).toString()} HTTP/1.1\r\nHost: x\r\n\r\n`)
    expect((await sendRaw(plain.port, get)).body).toEqual(wireBody('get_add_ints_response'))
  })

  it('post_invalid_json: -32700 where the original sent nothing', async () => {
    expect(await json(wire('post_invalid_json_request'))).toEqual({ error: { code: -32700, message: 'Parse error.' } })
  })

  it('post_empty_method: -32600 with the original bytes', async () => {
    const res = await sendRaw(plain.port, postCall('{"method": "", "params": []}'))
    expect(res.body).toEqual(wireBody('post_empty_method_response'))
  })

  it('post_method_not_callable: a namespace is not a method', async () => {
    expect(await json(wire('post_method_not_callable_request'))).toEqual({ error: { code: -32601, message: 'Method not found.' } })
  })

  it('multipart_missing_file_part: -32002 naming the reference', async () => {
    expect(await json(wire('multipart_missing_file_part_request'))).toEqual({
      error: { code: -32002, message: 'Missing file object.', info: '__file__:nope' },
    })
  })

  it('multipart_file_no_filename: a part without a filename is not a file', async () => {
    const body = multipart('B', [
      { name: 'json', data: '{"method": "upload_info", "params": ["x", "__file__:f1"]}' },
      { name: '__file__:f1', data: 'ABC' },
    ])
    expect(await json(post(body, 'multipart/form-data; boundary=B'))).toEqual({
      error: { code: -32002, message: 'Missing file object.', info: '__file__:f1' },
    })
  })

  it('exception_in_method: info is name and message, no traceback', async () => {
    expect(await json(postCall('{"method": "raise_ioerror", "params": []}'))).toEqual({
      error: { code: -32000, message: 'Method call raised an exception.', info: 'Error: Ooops!' },
    })
  })

  it('wrong_arg_count: extra arguments are ignored', async () => {
    expect(await json(postCall('{"method": "echo", "params": ["a", "b"]}'))).toEqual({ result: 'a' })
  })

  it('non_serialisable: -32003 with the type', async () => {
    expect(await json(wire('non_serialisable_request'))).toEqual({
      error: { code: -32003, message: 'Object is not JSON serializable.', info: 'Object of type PlainObject is not JSON serializable' },
    })
  })

  it('put_method: 501 with a JSON error', async () => {
    const res = await sendRaw(plain.port, wire('put_method_request'))
    expect(res.status).toBe(501)
    expect(JSON.parse(res.body.toString())).toEqual({ error: { code: -32600, message: 'Invalid request.', info: "Unsupported method ('PUT')." } })
    expect(wire('put_method_response').toString()).toContain('501')
  })

  it('get_no_query, post_missing_json_field: 400 with a JSON error', async () => {
    const missing = { error: { code: -32600, message: 'Invalid request.', info: "Missing 'json' parameter." } }
    const get = await sendRaw(plain.port, wire('get_no_query_request'))
    expect(get.status).toBe(400)
    expect(JSON.parse(get.body.toString())).toEqual(missing)
    const res = await sendRaw(plain.port, post('other=1', 'application/x-www-form-urlencoded'))
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body.toString())).toEqual(missing)
    expect(wire('post_missing_json_field_response').toString()).toMatch(/^HTTP\/1.0 400/)
  })
})

describe('JSON text', () => {
  const jsonBodies = vectors.filter((v) => v.direction === 'server->client' && v.text?.includes('Content-Type: application/json') === true)

  it('covers the JSON replies in the vectors', () => {
    expect(jsonBodies.length).toBeGreaterThan(20)
  })

  it.each(jsonBodies.map((v) => v.name))('encodeJson(JSON.parse(%s)) gives the same bytes', (name) => {
    const body = wireBody(name).toString('utf8')
    expect(encodeJson(JSON.parse(body))).toBe(body)
  })

  const calls = vectors.filter((v) => v.direction === 'client->server' && /json=|JSON=|name="json"/.test(v.bytes.toString('latin1')))

  it.each(calls.map((v) => v.name))('encodeJson(JSON.parse(call text of %s)) gives the same text', (name) => {
    const text = wireCallText(name)
    if (name === 'post_invalid_json_request') {
      expect(() => JSON.parse(text) as unknown).toThrow()
      return
    }
    expect(encodeJson(JSON.parse(text))).toBe(text)
  })
})

describe('the client against the original', () => {
  /** A server that takes one whole request, answers with `reply` and closes, as the original does. */
  async function replay(reply: Uint8Array): Promise<{ port: number; requests: Buffer[]; close(): Promise<void> }> {
    const requests: Buffer[] = []
    const server = net.createServer((socket) => {
      let data = Buffer.alloc(0)
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk])
        const headEnd = data.indexOf('\r\n\r\n')
        if (headEnd === -1) return
        const length = Number(/content-length: (\d+)/i.exec(data.subarray(0, headEnd).toString('latin1'))?.[1] ?? 0)
        if (data.length < headEnd + 4 + length) return
        requests.push(data)
        socket.end(reply)
      })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as net.AddressInfo
    return { port, requests, close: () => new Promise((resolve) => server.close(() => resolve())) }
  }

  async function callOriginal(reply: string, run: (client: Awaited<ReturnType<typeof connect>>) => Promise<unknown>):
    Promise<{ outcome: unknown; request: Buffer }> {
    const server = await replay(wire(reply))
    const client = await connect({ port: server.port })
    try {
      const outcome = await run(client).catch((err: unknown) => err)
      return { outcome, request: server.requests[0] ?? Buffer.alloc(0) }
    } finally {
      await client.close()
      await server.close()
    }
  }

  const requestCallText = (request: Buffer): string => {
    const body = request.subarray(request.indexOf('\r\n\r\n') + 4).toString('latin1')
    return new URLSearchParams(body).get('json') ?? ''
  }

  it('echo_hello: same call text and body as the original client, result read from an HTTP/1.0 reply', async () => {
    const { outcome, request } = await callOriginal('echo_hello_response', (c) => c.call('echo', ['hello world']))
    expect(outcome).toBe('hello world')
    expect(requestCallText(request)).toBe(wireCallText('echo_hello_request'))
    expect(request.subarray(request.indexOf('\r\n\r\n') + 4)).toEqual(wireBody('echo_hello_request'))
  })

  it('named_params_2char: same call text', async () => {
    const { request } = await callOriginal('echo_hello_response', (c) => c.call('kw', { x: 'hi', y: 'yo' }))
    expect(requestCallText(request)).toBe(wireCallText('named_params_2char_request'))
  })

  it('echo_with_pmhparams: same call text', async () => {
    const { request } = await callOriginal('echo_hello_response', (c) => c.call('echo', ['x'], { pmhparams: { counter: 1 } }))
    expect(requestCallText(request)).toBe(wireCallText('echo_with_pmhparams_request'))
  })

  it('unknown_method: a RemoteError with the remote code and no data', async () => {
    const { outcome } = await callOriginal('unknown_method_response', (c) => c.call('nosuch', ['x']))
    expect(outcome).toMatchObject({ code: ErrorCode.REMOTE, rpcCode: -32601, message: 'Method not found.', status: 200 })
    expect(outcome).not.toHaveProperty('data')
  })

  it('exception_in_method: the traceback arrives as data', async () => {
    const { outcome } = await callOriginal('exception_in_method_response', (c) => c.call('raise_ioerror'))
    expect(outcome).toMatchObject({ code: ErrorCode.REMOTE, rpcCode: -32000 })
    expect((outcome as { data: string }).data).toContain('OSError: Ooops!')
  })

  it('return_none: the original\'s {} arrives as it is', async () => {
    expect((await callOriginal('return_none_response', (c) => c.call('return_none'))).outcome).toEqual({})
  })

  it('file_upload_text: a sized upload carries Content-Length, which the original needs', async () => {
    const { outcome, request } = await callOriginal('file_upload_text_response',
      (c) => c.call('upload_info', ['lbl', new Blob(['file content\nline2\n'], { type: 'text/plain' })]))
    expect(outcome).toEqual({ label: 'lbl', type: 'BytesIO', len: 19, content: 'file content\nline2\n' })
    const head = request.subarray(0, request.indexOf('\r\n\r\n')).toString('latin1')
    expect(head).toMatch(/Content-Length: \d+/i)
    expect(head).not.toMatch(/chunked/i)
  })

  it('return_bytesio: a close-delimited binary reply', async () => {
    const { outcome } = await callOriginal('return_bytesio_response', async (c) => {
      const result = await c.call('return_bytes_io')
      expect(isBinaryResult(result)).toBe(true)
      const binary = result as BinaryResult
      expect(binary.size).toBeUndefined()
      return Buffer.from(await binary.bytes())
    })
    expect(outcome).toEqual(Buffer.from('000162696e617279ff', 'hex'))
  })

  it('add_ints: a connection closed without a reply is ERR_KRPC_CLOSED', async () => {
    const { outcome } = await callOriginal('add_ints_response', (c) => c.call('add', [1, 2]))
    expect(outcome).toMatchObject({ code: ErrorCode.CLOSED })
  })

  it('put_method, post_missing_json_field: HTML error pages are ERR_KRPC_HTTP_STATUS', async () => {
    const put = await callOriginal('put_method_response', (c) => c.call('echo', ['x']))
    expect(put.outcome).toMatchObject({ code: ErrorCode.HTTP_STATUS, status: 501 })
    const missing = await callOriginal('post_missing_json_field_response', (c) => c.call('echo', ['x']))
    expect(missing.outcome).toMatchObject({ code: ErrorCode.HTTP_STATUS, status: 400 })
  })

  it('get_echo: via get sends the call in the query', async () => {
    const { outcome, request } = await callOriginal('get_echo_response', (c) => c.call('echo', ['hi'], { via: 'get' }))
    expect(outcome).toBe('hi')
    const line = request.toString('latin1').split('\r\n')[0] ?? ''
    expect(line).toMatch(/^GET \/\?json=/)
    const target = line.split(' ')[1] ?? ''
    expect(new URLSearchParams(target.slice(2)).get('json')).toBe('{"method": "echo", "params": ["hi"], "pmhparams": null}')
  })
})
