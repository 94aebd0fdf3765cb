import { Buffer } from 'node:buffer'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { decodeFrame, encodeRequest, encodeResponse } from '../src/codec.ts'
import type { KarpError } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { KarpServer } from '../src/types.ts'
import { connect } from '../src/client.ts'
import { RawClient, deferred, meaning, payloadOf, publicError, wire } from './helpers.ts'

const request = (id: string, route: string, data: string | Uint8Array, wantsReply = true): Buffer =>
  Buffer.from(encodeRequest({ route, id, data, wantsReply }))
const response = (id: string, success: boolean, data: string | Uint8Array): Buffer =>
  Buffer.from(encodeResponse({ id, success, data }))

/** The routes the original's test server had, for the captured cases. */
function vectorServer(): { server: KarpServer; clientErrors: KarpError[]; handlerErrors: unknown[]; calls: string[] } {
  const clientErrors: KarpError[] = []
  const handlerErrors: unknown[] = []
  const calls: string[] = []
  const server = createServer({
    handlers: {
      echo: (request) => {
        calls.push(request.id)
        return request.data
      },
      fail: () => {
        throw publicError('boom')
      },
      num: () => 42 as unknown as string,
      get_user: async (request) => {
        await new Promise((resolve) => setImmediate(resolve))
        return `user:${request.text}`
      },
      async: async () => {
        await Promise.resolve()
        return 'async handler'
      },
      none: () => undefined,
      reverse: async (request, ctx) => {
        const reply = await ctx.connection.request('ping', `from-server:${request.text}`)
        return `client said ${reply.text()}`
      },
    },
  })
  server.on('clientError', (err) => clientErrors.push(err))
  server.on('handlerError', (err) => handlerErrors.push(err))
  return { server, clientErrors, handlerErrors, calls }
}

let setup: ReturnType<typeof vectorServer>
let port: number
let raw: RawClient

beforeEach(async () => {
  setup = vectorServer()
  port = (await setup.server.listen({ host: '127.0.0.1', port: 0 })).port
  raw = await RawClient.connect(port)
})

afterEach(async () => {
  raw.destroy()
  await setup.server.close()
})

describe('answers the original client byte for byte', () => {
  it.each([
    ['karp_simple_echo/client/0', 'karp_simple_echo/server/0'],
    ['karp_medium_7000/client/0', 'karp_medium_7000/server/0'],
    ['karp_uppercase_route_client/client/0', 'karp_uppercase_route_client/server/0'],
    ['karp_handler_exception/client/0', 'karp_handler_exception/server/0'],
    ['karp_raw_crlf/client/0', 'karp_raw_crlf/server/0'],
  ])('%s -> %s', async (sent, answer) => {
    await raw.write(wire(sent))
    expect(await raw.line()).toEqual(wire(answer))
  })

  it.each([
    ['karp_empty_payload/server/0', 'echo'],
    ['karp_handler_returns_none/server/0', 'none'],
    ['karp_async_handler/server/0', 'async'],
  ])('%s (request rebuilt from its id, route %s)', async (answer, route) => {
    const id = meaning(answer).request_id ?? ''
    await raw.write(request(id, route, ''))
    expect(await raw.line()).toEqual(wire(answer))
  })

  it('answers an unknown route with the route in single quotes', async () => {
    await raw.write(wire('karp_unknown_route/client/0'))
    expect(await raw.line()).toEqual(response('9174002975504736', false, "'nosuch'"))
  })

  it("quotes an unknown route as Python's repr does, backslash doubled", async () => {
    await raw.write('KARP_HEADa\\b011234567890123456C_LEN0KARP_DATAKARP_END\n')
    expect(await raw.line()).toEqual(response('1234567890123456', false, "'a\\\\b'"))
  })

  it('answers three pipelined requests by id, in completion order', async () => {
    await raw.write(
      Buffer.concat([
        request('1111111111111111', 'get_user', 'one'),
        wire('karp_pipelined_three/client/1'),
        wire('karp_pipelined_three/client/2'),
      ]),
    )
    const lines = [await raw.line(), await raw.line(), await raw.line()]
    // echo answers at once; get_user waits a turn, so its replies come after.
    expect(lines[0]).toEqual(wire('karp_pipelined_three/server/1'))
    expect(lines.slice(1)).toEqual(
      expect.arrayContaining([response('1111111111111111', true, 'user:one'), wire('karp_pipelined_three/server/2')]),
    )
  })

  it('answers two frames sent in one write', async () => {
    await raw.write(Buffer.concat([request('0000000000000010', 'echo', 'one'), wire('karp_raw_two_frames_one_write/client/1')]))
    expect(await raw.line()).toEqual(wire('karp_raw_two_frames_one_write/server/0'))
    expect(await raw.line()).toEqual(response('0000000000000011', true, 'two'))
  })

  it('calls the client back on the same connection before answering', async () => {
    await raw.write(wire('karp_server_to_client_request/client/0'))
    const callback = await raw.line()
    const frame = decodeFrame(callback)
    expect(frame).toMatchObject({ type: 'request', route: 'ping', wantsReply: true })
    expect(Buffer.from(frame.data).toString()).toBe('from-server:x')
    const original = meaning('karp_server_to_client_request/server/0')
    expect(request(original.request_id ?? '', 'ping', Buffer.from(frame.data))).toEqual(
      wire('karp_server_to_client_request/server/0'),
    )
    await raw.write(response(frame.id, true, `pong(${payloadOf(original)})`))
    expect(await raw.line()).toEqual(wire('karp_server_to_client_request/server/1'))
  })

  it('drops a garbage line, reports it, and answers the next frame', async () => {
    await raw.write(Buffer.concat([wire('karp_raw_garbage_then_valid/client/0'), request('0000000000000001', 'echo', 'hi')]))
    expect(await raw.line()).toEqual(wire('karp_raw_garbage_then_valid/server/0'))
    expect(setup.clientErrors.map((e) => e.code)).toEqual(['ERR_KARP_BAD_FRAME'])
  })

  it('skips empty lines without a report', async () => {
    await raw.write(
      Buffer.concat([
        wire('karp_raw_empty_lines/client/0'),
        wire('karp_raw_empty_lines/client/1'),
        request('0000000000000017', 'echo', 'hi'),
        wire('karp_raw_empty_lines/client/3'),
        Buffer.from('\r\n'),
        request('0000000000000018', 'echo', 'ho'),
      ]),
    )
    expect(await raw.line()).toEqual(wire('karp_raw_empty_lines/server/0'))
    expect(await raw.line()).toEqual(response('0000000000000018', true, 'ho'))
    expect(setup.clientErrors).toEqual([])
  })

  it('parses an unterminated frame at end of stream and answers before ending', async () => {
    await raw.write(wire('karp_raw_no_newline/client/0'))
    raw.socket.end()
    expect(await raw.rest()).toEqual([wire('karp_raw_no_newline/server/0')])
  })

  it('drops a stray response silently and answers the next request', async () => {
    await raw.write(Buffer.concat([wire('karp_raw_response_frame_to_server/client/0'), wire('karp_raw_response_frame_to_server/client/1')]))
    expect(await raw.line()).toEqual(response('0000000000000013', true, 'hi'))
    expect(setup.clientErrors).toEqual([])
  })

  it('ignores bytes after KARP_END', async () => {
    await raw.write(wire('karp_raw_trailing_garbage/client/0'))
    expect(await raw.line()).toEqual(response('0000000000000005', true, 'hi'))
  })

  it('handles an upper-case route on the wire as lower case', async () => {
    await raw.write(wire('karp_raw_uppercase_route_on_wire/client/0'))
    expect(await raw.line()).toEqual(response('0000000000000008', true, 'hi'))
  })
})

describe('where the original went silent', () => {
  it('runs a notification and sends nothing (karp_no_response_wanted, karp_raw_no_response_flag)', async () => {
    expect(wire('karp_no_response_wanted/server/none')).toHaveLength(0)
    expect(wire('karp_raw_no_response_flag/server/none')).toHaveLength(0)
    await raw.write(Buffer.concat([wire('karp_raw_no_response_flag/client/0'), wire('karp_simple_echo/client/0')]))
    // Frames are handled in order, so had the notification been answered it would come first.
    expect(await raw.line()).toEqual(wire('karp_simple_echo/server/0'))
    expect(setup.calls).toEqual(['0000000000000014', '2914177763170669'])
  })

  it('answers a handler that returns a number with a failure (karp_handler_returns_int)', async () => {
    await raw.write(wire('karp_handler_returns_int/client/0'))
    expect(await raw.line()).toEqual(
      response(
        '7954220587915890',
        false,
        "ERR_KARP_BAD_HANDLER_RESULT: route 'num' returned number; expected string, Uint8Array or undefined",
      ),
    )
    expect(setup.handlerErrors).toEqual([expect.objectContaining({ code: 'ERR_KARP_BAD_HANDLER_RESULT', route: 'num' })])
  })

  it('reaches a route registered as Upper (karp_route_registered_uppercase)', async () => {
    const id = meaning('karp_route_registered_uppercase/server/0').request_id ?? ''
    await raw.write(request(id, 'upper', 'x'))
    expect(await raw.line()).toEqual(wire('karp_route_registered_uppercase/server/0'))
    setup.server.handle('Upper', (request) => request.text.toUpperCase())
    await raw.write(request(id, 'upper', 'x'))
    expect(await raw.line()).toEqual(response(id, true, 'X'))
  })

  it('answers a frame split across writes (karp_raw_split_across_writes)', async () => {
    expect(wire('karp_raw_split_across_writes/server/none')).toHaveLength(0)
    const frame = request('0000000000000007', 'echo', 'hi')
    await raw.write(frame.subarray(0, 20))
    await raw.write(frame.subarray(20))
    expect(await raw.line()).toEqual(response('0000000000000007', true, 'hi'))
  })

  it('answers a 100 000-byte payload (karp_large_100000)', async () => {
    expect(wire('karp_large_100000/server/none')).toHaveLength(0)
    const payload = 'm'.repeat(100_000)
    await raw.write(request('1234567890123456', 'echo', payload))
    expect(await raw.line()).toEqual(response('1234567890123456', true, payload))
    const client = await connect({ port })
    expect((await client.request('echo', payload)).text()).toBe(payload)
    await client.close()
  })

  it('answers a binary payload (karp_raw_non_utf8_payload)', async () => {
    expect(wire('karp_raw_non_utf8_payload/server/none')).toHaveLength(0)
    await raw.write('KARP_HEADecho010000000000000004C_LEN4KARP_DATA/w==KARP_END\n')
    expect(await raw.line()).toEqual(response('0000000000000004', true, new Uint8Array([0xff])))
  })

  it('keeps reading after raw non-UTF-8 bytes (karp_raw_non_utf8_bytes)', async () => {
    expect(wire('karp_raw_non_utf8_bytes/server/none')).toHaveLength(0)
    await raw.write(Buffer.concat([Buffer.from([0xff, 0xfe, 0x0a]), wire('karp_raw_non_utf8_bytes/client/1')]))
    expect(await raw.line()).toEqual(response('0000000000000015', true, 'hi'))
    expect(setup.clientErrors.map((e) => e.code)).toEqual(['ERR_KARP_BAD_FRAME'])
  })

  it('answers a C_LEN mismatch with a failure (karp_raw_clen_mismatch)', async () => {
    await raw.write(wire('karp_raw_clen_mismatch/client/0'))
    expect(await raw.line()).toEqual(
      response('0000000000000002', false, 'ERR_KARP_LENGTH_MISMATCH: C_LEN says 999 characters, the data has 4'),
    )
    expect(setup.clientErrors).toEqual([expect.objectContaining({ code: 'ERR_KARP_LENGTH_MISMATCH', id: '0000000000000002' })])
    await raw.write(wire('karp_simple_echo/client/0'))
    expect(await raw.line()).toEqual(wire('karp_simple_echo/server/0'))
  })

  it.each([
    ['karp_raw_bad_base64_padding/client/0', '0000000000000003'],
    ['karp_raw_nonbase64_char_in_data/client/0', '0000000000000016'],
  ])('answers bad base64 with a failure (%s)', async (name, id) => {
    expect(wire('karp_raw_bad_base64_padding/server/none')).toHaveLength(0)
    await raw.write(wire(name))
    const reply = decodeFrame(await raw.line())
    expect(reply).toMatchObject({ type: 'response', id, success: false })
    expect(Buffer.from(reply.data).toString()).toMatch(/^ERR_KARP_BAD_BASE64: /)
    expect(setup.clientErrors).toEqual([expect.objectContaining({ code: 'ERR_KARP_BAD_BASE64', id })])
  })

  it.each([
    ['karp_digit_in_route/client/0', wire('karp_digit_in_route/client/0')],
    ['karp_raw_short_id', Buffer.from('KARP_HEADecho01123C_LEN4KARP_DATAaGk=KARP_END\n')],
    ['an id with letters', Buffer.from('KARP_HEADecho01123456789abcdef0C_LEN4KARP_DATAaGk=KARP_END\n')],
    ['a route byte above z', Buffer.from('KARP_HEADec{ho011234567890123456C_LEN4KARP_DATAaGk=KARP_END\n')],
  ])('drops %s without a reply and keeps the connection', async (_name, bytes) => {
    expect(wire('karp_digit_in_route/server/none')).toHaveLength(0)
    expect(wire('karp_raw_short_id/server/none')).toHaveLength(0)
    await raw.write(Buffer.concat([bytes, wire('karp_simple_echo/client/0')]))
    expect(await raw.line()).toEqual(wire('karp_simple_echo/server/0'))
    expect(setup.clientErrors.map((e) => e.code)).toEqual(['ERR_KARP_BAD_FRAME'])
  })

  it('answers a multi-megabyte C_LEN with a mismatch failure', async () => {
    await raw.write(`KARP_HEADecho011234567890123456C_LEN${'7'.repeat(3_000_000)}KARP_DATAaGk=KARP_END\n`)
    const reply = decodeFrame(await raw.line())
    expect(reply).toMatchObject({ id: '1234567890123456', success: false })
    expect(Buffer.from(reply.data).toString()).toMatch(/^ERR_KARP_LENGTH_MISMATCH: /)
  })
})

describe('serving several connections', () => {
  it('keeps serving others while one peer sends garbage and resets mid-frame', async () => {
    const other = await connect({ port })
    await raw.write('garbage\nKARP_HEADecho0112345')
    const gone = deferred()
    setup.server.connections.forEach((connection) => void connection.closed.then(() => gone.resolve()))
    // From inside a write callback Node sends FIN instead of RST, so reset one turn later.
    await new Promise((resolve) => setImmediate(resolve))
    raw.socket.resetAndDestroy()
    await gone.promise
    expect((await other.request('echo', 'still here')).text()).toBe('still here')
    expect(setup.server.connections.size).toBe(1)
    await other.close()
  })

  it('reports each connection, and a failure to reach a route when none matches', async () => {
    const connected = deferred<number>()
    setup.server.on('connection', () => connected.resolve(setup.server.connections.size))
    const other = await connect({ port })
    expect(await connected.promise).toBe(2)
    await expect(other.request('nosuch')).rejects.toMatchObject({ code: 'ERR_KARP_REMOTE', message: "'nosuch'" })
    await other.close()
  })
})
