import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from '../src/client.ts'
import type { KorvClient, KorvConnectOptions } from '../src/client.ts'
import { encodeJson, encodeMessage } from '../src/codec.ts'
import { ErrorCode } from '../src/errors.ts'
import type { KorvError, RemoteError } from '../src/errors.ts'
import { fingerprintOf, keyPair, pythonGzip, replyAs, startServer, startStub, vectorJson, vectorText } from './helpers.ts'
import type { TestServer } from './helpers.ts'

let t: TestServer
let client: KorvClient

const options = (port: number, extra: Partial<KorvConnectOptions> = {}): KorvConnectOptions => ({
  host: '127.0.0.1',
  port,
  privateKey: keyPair('ed25519', 1).private,
  hostKeyFingerprint: fingerprintOf(keyPair('ed25519', 0).public),
  ...extra,
})

beforeAll(async () => {
  t = await startServer()
  client = await connect(options(t.port))
})
afterAll(async () => {
  await client.close()
  await t.close()
})

describe('client against the korv server', () => {
  it('runs the four verbs and resolves { code, body }', async () => {
    expect(await client.get('/hello')).toEqual({ code: 200, body: { msg: 'Hello World!' } })
    expect(await client.store('/items', { name: 'a', n: 1 })).toEqual({ code: 200, body: { stored: { name: 'a', n: 1 } } })
    expect(await client.update('/items', { name: 'a', n: 2 })).toEqual({ code: 200, body: { updated: { name: 'a', n: 2 } } })
    expect(await client.get('/items')).toEqual({ code: 200, body: [{ name: 'a', n: 2 }] })
    expect(await client.delete('/items', { name: 'a' })).toEqual({ code: 200, body: null })
    expect(await client.get('/items')).toEqual({ code: 200, body: [] })
    expect(await client.get('/echo', { é: ['\u2028', 1.5] })).toEqual({ code: 200, body: { é: ['\u2028', 1.5] } })
  })

  it('rejects 4xx and 5xx with RemoteError from verb methods; request() resolves them', async () => {
    await expect(client.get('/nope')).rejects.toMatchObject({ code: ErrorCode.REMOTE, status: 404, body: null, message: 'korv 404' })
    await expect(client.get('/boom')).rejects.toMatchObject({ code: ErrorCode.REMOTE, status: 500, message: 'kaboom' })
    expect(await client.request('DELETE', '/hello')).toEqual({ code: 404, body: null })
  })

  it('runs many requests at once over its one channel', async () => {
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => client.get('/echo', i)))
    expect(replies.map((r) => r.body)).toEqual(Array.from({ length: 200 }, (_, i) => i))
  })

  it('refuses an unknown verb and an oversized request locally', async () => {
    await expect(client.request('PATCH' as 'GET', '/hello')).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_VERB })
    await expect(client.get('/echo', Buffer.alloc(60_000, 7).toString('hex') + Math.random())).resolves.toMatchObject({ code: 200 })
    const random = Array.from({ length: 8000 }, (_, i) => (i * 2654435761) % 4294967291)
    await expect(client.get('/echo', random)).rejects.toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE })
    await expect(client.get('/echo', 1n)).rejects.toMatchObject({ code: ErrorCode.UNSERIALIZABLE })
  })

  it('rejects with signal.reason on abort and forgets the call', async () => {
    const slow = await startServer({ handlers: { GET: { '/slow': (_request, ctx) => once(ctx.signal, 'abort').then(() => undefined) } } })
    const c = await connect(options(slow.port))
    const controller = new AbortController()
    const call = c.get('/slow', null, { signal: controller.signal })
    const reason = new Error('stop')
    controller.abort(reason)
    await expect(call).rejects.toBe(reason)
    await expect(c.get('/slow', null, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    await c.close()
    await slow.close()
  })

  it('rejects a call that outlives its timeout with a TimeoutError', async () => {
    const slow = await startServer({ handlers: { GET: { '/never': () => new Promise<never>(() => {}) } } })
    const c = await connect(options(slow.port, { timeout: 50 }))
    await expect(c.get('/never')).rejects.toMatchObject({ name: 'TimeoutError' })
    await expect(c.get('/never', null, { timeout: 1 })).rejects.toMatchObject({ name: 'TimeoutError' })
    await c.close({ signal: AbortSignal.abort() })
    await slow.close({ signal: AbortSignal.abort() })
  })

  it('close() waits for pending calls, refuses new ones and resolves closed', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const slow = await startServer({ handlers: { GET: { '/gate': async () => gate.then(() => ({ code: 200, body: 'late' })) } } })
    const c = await connect(options(slow.port))
    const pending = c.get('/gate')
    const closing = c.close()
    await expect(c.get('/hello')).rejects.toMatchObject({ code: ErrorCode.CLOSED })
    release()
    expect(await pending).toEqual({ code: 200, body: 'late' })
    await closing
    await c.closed
    await slow.close()
  })

  it('resolves every close() called while calls are pending, not only the last', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const slow = await startServer({ handlers: { GET: { '/gate': async () => gate } } })
    const c = await connect(options(slow.port))
    const pending = c.get('/gate')
    const first = c.close()
    const second = c.close()
    release()
    await pending
    await Promise.all([first, second])
    await slow.close()
  })

  it('rejects pending calls with ERR_KORV_CLOSED when the server goes away', async () => {
    const doomed = await startServer({ handlers: { GET: { '/hang': () => new Promise<never>(() => {}) } } })
    const c = await connect(options(doomed.port))
    const pending = c.get('/hang')
    const closeEvent = once(c, 'close')
    await doomed.close({ signal: AbortSignal.abort() })
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.CLOSED })
    await closeEvent
    await c.closed
    await expect(c.get('/hello')).rejects.toMatchObject({ code: ErrorCode.CLOSED })
  })

  it('supports await using', async () => {
    let closed: Promise<void>
    {
      await using c = await connect(options(t.port))
      closed = c.closed
      expect((await c.get('/hello')).code).toBe(200)
    }
    await closed
  })
})

describe('client connection setup', () => {
  it('fails with ERR_KORV_CONNECT, the socket error as cause, where nothing listens', async () => {
    const closed = net.createServer()
    closed.listen(0, '127.0.0.1')
    await once(closed, 'listening')
    const { port } = closed.address() as net.AddressInfo
    closed.close()
    await expect(connect(options(port))).rejects.toMatchObject({ code: ErrorCode.CONNECT, cause: { code: 'ECONNREFUSED' } })
  })

  it('fails with ERR_KORV_HANDSHAKE_TIMEOUT against a peer that never speaks, and lets the socket go', async () => {
    const mute = net.createServer()
    const sockets: net.Socket[] = []
    mute.on('connection', (socket) => {
      // Read, so that the client's FIN is seen.
      socket.resume()
      sockets.push(socket)
    })
    mute.listen(0, '127.0.0.1')
    await once(mute, 'listening')
    const { port } = mute.address() as net.AddressInfo
    await expect(connect(options(port, { connectTimeout: 50 }))).rejects.toMatchObject({
      code: ErrorCode.TIMEOUT,
      name: 'TimeoutError',
      message: `connect to 127.0.0.1:${port} timed out after 50 ms`,
    })
    const [socket] = sockets
    if (socket !== undefined && !socket.destroyed) await once(socket, 'close')
    mute.close()
  })

  it('rejects with signal.reason when aborted while connecting', async () => {
    const reason = new Error('stop')
    const controller = new AbortController()
    const pending = connect(options(t.port, { signal: controller.signal }))
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
  })
})

describe('client against replies the original server sends', () => {
  it('sends get-hello-request, with its own id', async () => {
    const seen: Record<string, unknown>[] = []
    const stub = await startStub((request) => {
      seen.push(request)
      return [replyAs('get-hello-response', request.id)]
    })
    const c = await connect(options(stub.port))
    expect(await c.get('/hello')).toEqual({ code: 200, body: { msg: 'Hello World!' } })
    const { id, ...rest } = seen[0] ?? {}
    const { id: originalId, ...expected } = vectorJson('get-hello-request')
    expect(rest).toEqual(expected)
    expect(Object.keys(seen[0] ?? {})).toEqual(['id', 'verb', 'resource', 'body'])
    expect(typeof id).toBe('number')
    expect(Math.abs((id as number) - Date.now() / 1000)).toBeLessThan(60)
    expect(originalId).toEqual(expect.any(Number))
    await c.close()
    await stub.close()
  })

  it('numbers requests with strictly increasing time-based ids, never 0', async () => {
    const ids: number[] = []
    const stub = await startStub((request) => {
      ids.push(request.id as number)
      return [replyAs('get-hello-response', request.id)]
    })
    const c = await connect(options(stub.port))
    await Promise.all(Array.from({ length: 50 }, () => c.get('/hello')))
    expect(ids).toHaveLength(50)
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1] ?? Infinity)
    expect(ids.every((id) => id > 1_700_000_000)).toBe(true)
    await c.close()
    await stub.close()
  })

  it('ignores request_id 0 replies, settles once and checks the code', async () => {
    const script: Record<string, string[]> = {
      '/store': ['store-spurious-400', 'store-with-request-key-response'],
      '/update': ['update-spurious-400', 'missing-verb-second-400', 'store-with-request-key-response'],
      '/twice': ['store-with-request-key-response', 'two-handlers-second-response'],
      '/oops': ['handler-returns-non-tuple-response'],
      '/raise': ['handler-raises-500'],
      '/missing': ['unknown-resource-404'],
    }
    const stub = await startStub((request) => (script[request.resource as string] ?? []).map((name) => replyAs(name, request.id)))
    const c = await connect(options(stub.port))
    const protocolErrors: KorvError[] = []
    c.on('protocolError', (err) => protocolErrors.push(err))
    expect(await c.store('/store', 1)).toEqual({ code: 200, body: { stored: 2 } })
    expect(await c.update('/update', 1)).toEqual({ code: 200, body: { stored: 2 } })
    expect(await c.get('/twice')).toEqual({ code: 200, body: { stored: 2 } })
    await expect(c.get('/oops')).rejects.toMatchObject({ code: ErrorCode.BAD_MESSAGE })
    const raised = await c.get('/raise').catch((err: unknown) => err as RemoteError)
    expect(raised).toMatchObject({ code: ErrorCode.REMOTE, status: 500, message: 'kaboom' })
    expect(raised.body).toMatchObject({ traceback: expect.stringContaining('Traceback') })
    await expect(c.get('/missing')).rejects.toMatchObject({ code: ErrorCode.REMOTE, status: 404 })
    expect(protocolErrors).toEqual([])
    await c.close()
    await stub.close()
  })

  it('reports an undecodable reply as protocolError and fails no call', async () => {
    const stub = await startStub((request) => [
      Buffer.from('garbage!'),
      pythonGzip('not json'),
      pythonGzip(vectorText('get-hello-response').replace(/"request_id":[\d.]+/, `"request_id":${encodeJson(request.id)}`)),
    ])
    const c = await connect(options(stub.port))
    const errors: KorvError[] = []
    c.on('protocolError', (err) => errors.push(err))
    expect(await c.get('/hello')).toEqual({ code: 200, body: { msg: 'Hello World!' } })
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.BAD_MESSAGE, ErrorCode.BAD_MESSAGE])
    await c.close()
    await stub.close()
  })

  it('reads replies split across packets and coalesced in one', async () => {
    const stub = await startStub((request) => {
      const member = Buffer.from(encodeMessage({ id: 1, request_id: request.id, code: 200, body: request.body }))
      if (request.body === 'split') return [member.subarray(0, 5), member.subarray(5, 20), member.subarray(20)]
      return [Buffer.concat([pythonGzip('{"id":0,"request_id":0,"code":400,"body":null}'), member])]
    })
    const c = await connect(options(stub.port))
    expect(await c.get('/x', 'split')).toEqual({ code: 200, body: 'split' })
    expect(await c.get('/x', 'joined')).toEqual({ code: 200, body: 'joined' })
    await c.close()
    await stub.close()
  })
})
