import { Buffer } from 'node:buffer'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeMessage } from '../src/codec.ts'
import { noise, openRaw, pythonGzip, startServer, vector, vectorJson, vectorText, withoutId } from './helpers.ts'
import type { RawChannel, TestServer } from './helpers.ts'

let t: TestServer
let raw: RawChannel

beforeAll(async () => {
  t = await startServer()
  raw = await openRaw(t.port, t.clientKey.private)
})
afterAll(async () => {
  await raw.close()
  await t.close()
})

const send = (name: string): void => raw.send(pythonGzip(vector(name)))

describe('server answers the original client', () => {
  it.each([
    'get-hello-request',
    'get-with-body-request',
    'get-without-body-key-request',
    'store-request',
    'update-request',
    'pipelined-request-2',
  ])('%s gets one 200 and no request_id 0', async (name) => {
    const request = vectorJson(name)
    send(name)
    raw.request({ id: 'marker', verb: 'GET', resource: '/hello' })
    const reply = await raw.next()
    expect(reply).toMatchObject({ request_id: request.id, code: 200 })
    expect(typeof reply.id).toBe('number')
    // The next reply is the marker's: no spurious request_id 0 came in between.
    expect(await raw.next()).toMatchObject({ request_id: 'marker', code: 200 })
  })

  it('answers get-hello-request with get-hello-response, keys in order', async () => {
    send('get-hello-request')
    const reply = await raw.next()
    expect(Object.keys(reply)).toEqual(['id', 'request_id', 'code', 'body'])
    expect(withoutId(reply)).toEqual(withoutId(vectorJson('get-hello-response')))
  })

  it('answers delete-request with delete-response-null-body', async () => {
    send('delete-request')
    expect(withoutId(await raw.next())).toEqual(withoutId(vectorJson('delete-response-null-body')))
  })

  it('answers store-with-request-key-request with store-with-request-key-response', async () => {
    send('store-with-request-key-request')
    expect(withoutId(await raw.next())).toEqual(withoutId(vectorJson('store-with-request-key-response')))
  })

  it('answers a known resource with the wrong verb with 404 null', async () => {
    send('known-resource-wrong-verb-request')
    expect(withoutId(await raw.next())).toEqual({
      request_id: vectorJson('known-resource-wrong-verb-request').id,
      code: 404,
      body: null,
    })
  })

  it('answers a throwing handler with 500 and its message, no traceback', async () => {
    send('handler-raises-request')
    expect(withoutId(await raw.next())).toEqual({
      request_id: vectorJson('handler-raises-request').id,
      code: 500,
      body: { message: 'kaboom' },
    })
    expect(t.handlerErrors.at(-1)).toMatchObject({ message: 'kaboom' })
  })

  it('answers an unknown verb with 400 Unknown verb and its id', async () => {
    send('unknown-verb-request')
    expect(withoutId(await raw.next())).toEqual({ request_id: 1, code: 400, body: { message: 'Unknown verb' } })
  })

  it.each([
    ['missing-id-request', pythonGzip(vector('missing-id-request')), "Missing 'id'"],
    ['malformed-not-gzip-request', vector('malformed-not-gzip-request'), 'Unable to process request'],
    ['a gzip member that is not JSON', gzipSync('hello'), 'Unable to process request'],
    ['a member with a bad CRC', Buffer.concat([gzipSync('{}').subarray(0, -8), Buffer.alloc(8)]), 'Unable to process request'],
  ])('answers %s with 400 id 0 and keeps the channel', async (_name, bytes, message) => {
    raw.send(bytes)
    expect(withoutId(await raw.next())).toEqual({ request_id: 0, code: 400, body: { message } })
    send('get-hello-request')
    expect(await raw.next()).toMatchObject({ request_id: vectorJson('get-hello-request').id, code: 200 })
  })

  it('answers both members of two-gzip-members-in-one-packet', async () => {
    const [first, second] = vectorText('two-gzip-members-in-one-packet').split(/(?<=\})(?=\{)/)
    raw.send(Buffer.concat([pythonGzip(first ?? ''), encodeMessage(JSON.parse(second ?? '') as object)]))
    const ids = [(await raw.next()).request_id, (await raw.next()).request_id]
    expect(ids.sort((a, b) => Number(a) - Number(b))).toEqual([9, 10])
  })

  it('decodes a member split over several packets', async () => {
    const member = pythonGzip(vector('get-hello-request'))
    for (let i = 0; i < member.length; i += 7) raw.send(member.subarray(i, i + 7))
    expect(await raw.next()).toMatchObject({ request_id: vectorJson('get-hello-request').id, code: 200 })
  })

  it('survives random packets: each bad one gets a 400, the channel stays usable', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const packet = noise(1 + ((seed * 37) % 300), seed)
      // A packet that happens to open with the gzip magic would wait for more bytes.
      packet[0] = 0x00
      raw.send(packet)
      expect(await raw.next()).toMatchObject({ request_id: 0, code: 400 })
    }
    raw.request({ id: 'still-here', verb: 'GET', resource: '/hello' })
    expect(await raw.next()).toMatchObject({ request_id: 'still-here', code: 200 })
  })

  it('echoes a string id (string-id-response)', async () => {
    raw.request({ id: 'abc-1', verb: 'GET', resource: '/hello' })
    expect(withoutId(await raw.next())).toEqual(withoutId(vectorJson('string-id-response')))
  })

  it('drops the rest of a packet after a bad member but answers the members before it', async () => {
    raw.send(Buffer.concat([encodeMessage({ id: 'before', verb: 'GET', resource: '/hello' }), Buffer.from('junk'), encodeMessage({ id: 'lost', verb: 'GET', resource: '/hello' })]))
    const replies = [await raw.next(), await raw.next()]
    expect(replies.map((r) => r.request_id).sort()).toEqual([0, 'before'])
    raw.request({ id: 'after', verb: 'GET', resource: '/hello' })
    expect((await raw.next()).request_id).toBe('after')
  })
})

describe('server on channel EOF and handler results', () => {
  it('answers what it has after eof-after-request, then sends EOF and closes the channel', async () => {
    const own = await openRaw(t.port, t.clientKey.private)
    own.send(pythonGzip(vector('get-hello-request')))
    own.channel.end()
    expect(await own.next()).toMatchObject({ code: 200 })
    await own.ended
    await own.close()
  })

  it('sends the stack only with exposeErrors', async () => {
    const exposed = await startServer({ exposeErrors: true })
    const own = await openRaw(exposed.port, exposed.clientKey.private)
    own.send(pythonGzip(vector('handler-raises-request')))
    const reply = await own.next()
    expect(reply.body).toMatchObject({ message: 'kaboom', traceback: expect.stringContaining('Error: kaboom') })
    await own.close()
    await exposed.close()
  })

  it.each([
    ['a string', 'oops', 'ERR_KORV_BAD_HANDLER_RESULT'],
    ['a code out of range', { code: 600 }, 'ERR_KORV_BAD_HANDLER_RESULT'],
    ['a fractional code', { code: 200.5 }, 'ERR_KORV_BAD_HANDLER_RESULT'],
    ['a BigInt body', { code: 200, body: 1n }, 'ERR_KORV_UNSERIALIZABLE'],
    ['an oversized body', { code: 200, body: noise(40_000).toString('base64') }, 'ERR_KORV_MESSAGE_TOO_LARGE'],
  ])('answers a handler returning %s with 500 and reports handlerError', async (_name, result, code) => {
    const bad = await startServer({ handlers: { GET: { '/bad': () => result as never } } })
    const own = await openRaw(bad.port, bad.clientKey.private)
    own.request({ id: 7, verb: 'GET', resource: '/bad' })
    const reply = await own.next()
    expect(reply).toMatchObject({ request_id: 7, code: 500, body: { message: expect.any(String) } })
    expect(bad.handlerErrors).toEqual([expect.objectContaining({ code })])
    await own.close()
    await bad.close()
  })

  it('lets a handler pick any code and returns undefined as 200 null', async () => {
    const own = await startServer({
      handlers: { GET: { '/created': () => ({ code: 201, body: { ok: true } }), '/nothing': () => undefined } },
    })
    const c = await openRaw(own.port, own.clientKey.private)
    c.request({ id: 1, verb: 'GET', resource: '/created' })
    expect(withoutId(await c.next())).toEqual({ request_id: 1, code: 201, body: { ok: true } })
    c.request({ id: 2, verb: 'GET', resource: '/nothing' })
    expect(withoutId(await c.next())).toEqual({ request_id: 2, code: 200, body: null })
    await c.close()
    await own.close()
  })

  it('aborts ctx.signal when the channel closes', async () => {
    let aborted!: (reason: unknown) => void
    const seen = new Promise((resolve) => (aborted = resolve))
    let started!: () => void
    const running = new Promise<void>((resolve) => (started = resolve))
    const own = await startServer({
      handlers: {
        GET: {
          '/wait': (_request, ctx) => {
            ctx.signal.addEventListener('abort', () => aborted(ctx.signal.reason))
            started()
            return new Promise<never>(() => {})
          },
        },
      },
    })
    const c = await openRaw(own.port, own.clientKey.private)
    c.request({ id: 1, verb: 'GET', resource: '/wait' })
    await running
    c.channel.close()
    expect(await seen).toMatchObject({ code: 'ERR_KORV_CLOSED' })
    await c.close()
    const closeEvent = new Promise((resolve) => own.server.once('close', () => resolve('closed')))
    await own.close({ signal: AbortSignal.abort() })
    expect(await closeEvent).toBe('closed')
  })
})
