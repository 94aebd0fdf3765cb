// KARP against the Python original (karp 0.0.8), both ways over 127.0.0.1: its KARPClient
// against our server, our client against its KARPServer, and raw frames for every bug of the
// original that our server fixes, with the original as the negative control.
import { describe, expect, it } from 'vitest'
import { loadVectors } from '@proto/framing/testing'
import { startDriver } from './driver.ts'
import type { Driver } from './driver.ts'
import { interopEnvironment } from './environment.ts'
import { failure, karpClient, karpRequestCli, karpServeCli, karpServer, requestFrame, responses } from './ours/karp.ts'
import type { KarpCall, KarpRoute } from './ours/karp.ts'
import { connectRaw, NEVER_ANSWERED_WITHIN, within } from './raw.ts'

interopEnvironment()

const vectors = loadVectors('karp')
const wire = (name: string): Buffer => vectors.find((v) => v.name === name)?.bytes ?? expect.unreachable(name)

const UNICODE = 'héllo wörld ✓ 日本語 🎉'
/**
 * The original's server reads 10 000 bytes at a time and splits each read on LF alone, so a
 * frame sent to it must fit in one read: 7 000 payload bytes make a 9 400-byte base64 field.
 */
const LARGEST_PAYLOAD = 'm'.repeat(7_000)

interface Reply {
  successful: boolean
  text: string
}

/** Our routes for the original client: what `karp serve` has, plus the cases the tests need. */
function ourRoutes(extra: Record<string, KarpRoute> = {}): Record<string, KarpRoute> {
  return {
    echo: (call) => call.data,
    upper: (call) => call.text.toUpperCase(),
    fail: () => {
      throw failure('fail')
    },
    ...extra,
  }
}

async function originalClient(port: number): Promise<Driver> {
  return (await startDriver('karp', 'karp_client.py', [String(port)], 'connected')).driver
}

async function originalServer(): Promise<{ driver: Driver; port: number }> {
  const { driver, ready } = await startDriver('karp', 'karp_server.py', [], 'listening')
  return { driver, port: ready['port'] as number }
}

describe('the original client against our server', () => {
  it('echoes UTF-8 text, an empty payload and the largest payload the original carries', async () => {
    const server = await karpServer(ourRoutes())
    const client = await originalClient(server.port)
    expect(await client.call('request', { route: 'echo', text: UNICODE })).toEqual({ successful: true, text: UNICODE })
    expect(await client.call('request', { route: 'upper', text: 'héllo' })).toEqual({ successful: true, text: 'HÉLLO' })
    expect(await client.call('request', { route: 'echo', text: '' })).toEqual({ successful: true, text: '' })
    expect(await client.call('request', { route: 'echo', text: LARGEST_PAYLOAD })).toEqual({ successful: true, text: LARGEST_PAYLOAD })
    // The original lowercases the route it sends.
    expect(await client.call('request', { route: 'ECHO', text: 'case' })).toEqual({ successful: true, text: 'case' })
    expect(server.clientErrors).toEqual([])
  })

  it('gets failures as success 0: a route that throws, an unknown route, a result that is not text', async () => {
    const server = await karpServer(ourRoutes({ num: () => 42 }))
    const client = await originalClient(server.port)
    expect(await client.call('request', { route: 'fail', text: 'x' })).toEqual({ successful: false, text: 'fail' })
    expect(await client.call('request', { route: 'nosuch', text: 'x' })).toEqual({ successful: false, text: "'nosuch'" })
    const num = await client.call<Reply>('request', { route: 'num', text: 'x' })
    expect(num.successful).toBe(false)
    expect(num.text).toMatch(/^ERR_KARP_BAD_HANDLER_RESULT/)
  })

  it('runs a notification without answering it', async () => {
    let notified: (call: KarpCall) => void = () => {}
    const arrived = new Promise<KarpCall>((resolve) => (notified = resolve))
    const server = await karpServer(ourRoutes({ note: (call) => notified(call) }))
    const client = await originalClient(server.port)
    expect(await client.call('request', { route: 'note', text: 'fire and forget', response: false })).toBeNull()
    const call = await arrived
    expect(call.text).toBe('fire and forget')
    expect(call.wantsReply).toBe(false)
  })

  it('keeps many requests in flight and matches replies sent back in reverse order', async () => {
    const COUNT = 20
    const held: { text: string; release: () => void }[] = []
    let allHeld: () => void = () => {}
    const full = new Promise<void>((resolve) => (allHeld = resolve))
    const server = await karpServer(
      ourRoutes({
        hold: (call) =>
          new Promise<string>((resolve) => {
            held.push({ text: call.text, release: () => resolve(`held ${call.text}`) })
            if (held.length === COUNT) allHeld()
          }),
      }),
    )
    const client = await originalClient(server.port)
    const requests = Array.from({ length: COUNT }, (_, i) => ({ route: 'hold', text: `${i} ${UNICODE}` }))
    const replies = client.call<Reply[]>('gather', { requests })
    await full
    for (const { release } of held.reverse()) release()
    expect(await replies).toEqual(requests.map(({ text }) => ({ successful: true, text: `held ${text}` })))
  })

  it("asks the original client's routes: a reply, a failure, a notification, and a call back from a handler", async () => {
    const server = await karpServer(ourRoutes({ reverse: async (call) => `client said ${(await call.ask('ping', call.text)).ok}` }))
    const client = await originalClient(server.port)
    const end = await server.connection()
    expect(await end.request('ping', UNICODE)).toMatchObject({ ok: true, text: `pong(${UNICODE})` })
    expect(await end.request('fail', 'x')).toEqual({ ok: false, message: 'client boom' })
    expect(await end.request('nosuch', 'x')).toEqual({ ok: false, message: "'nosuch'" })
    await end.notify('ping', 'no reply')
    expect(await client.event('handled', (e) => e['text'] === 'no reply')).toMatchObject({ route: 'ping', wants_reply: false })
    // Our handler calls the original back on the same connection before it answers.
    expect(await client.call('request', { route: 'reverse', text: 'x' })).toEqual({ successful: true, text: 'client said true' })
  })

  it('sees the original client close cleanly', async () => {
    const server = await karpServer(ourRoutes())
    const client = await originalClient(server.port)
    const end = await server.connection()
    expect(await client.call('request', { route: 'echo', text: 'before' })).toEqual({ successful: true, text: 'before' })
    await client.call('close')
    await end.closed
    await client.event('closed')
    expect(server.clientErrors).toEqual([])
  })

  it('talks to `karp serve`', async () => {
    const client = await originalClient(await karpServeCli())
    expect(await client.call('request', { route: 'echo', text: UNICODE })).toEqual({ successful: true, text: UNICODE })
    expect(await client.call('request', { route: 'upper', text: 'héllo' })).toEqual({ successful: true, text: 'HÉLLO' })
    expect(await client.call('request', { route: 'fail', text: 'x' })).toEqual({ successful: false, text: 'fail' })
  })

  it('aborts a running handler when the original client resets, and serves the next client', async () => {
    let started: (signal: AbortSignal) => void = () => {}
    const running = new Promise<AbortSignal>((resolve) => (started = resolve))
    const server = await karpServer(
      ourRoutes({
        hang: (call) => {
          started(call.signal)
          return new Promise(() => {})
        },
      }),
    )
    const first = await originalClient(server.port)
    const end = await server.connection()
    const pending = first.call('request', { route: 'hang', text: 'x' }).catch(() => 'abandoned')
    const signal = await running
    await first.call('abort')
    await end.closed
    expect(signal.aborted).toBe(true)
    await first.kill()
    expect(await pending).toBe('abandoned')
    const second = await originalClient(server.port)
    expect(await second.call('request', { route: 'echo', text: 'next' })).toEqual({ successful: true, text: 'next' })
  })
})

describe('our client against the original server', () => {
  it('echoes UTF-8 text, an empty payload and the largest payload the original reads whole', async () => {
    const { driver, port } = await originalServer()
    const client = await karpClient(port)
    expect(await client.request('echo', UNICODE)).toMatchObject({ ok: true, text: UNICODE })
    expect(await client.request('upper', 'héllo')).toMatchObject({ ok: true, text: 'HÉLLO' })
    expect(await client.request('echo', '')).toMatchObject({ ok: true, text: '' })
    expect(await client.request('echo', LARGEST_PAYLOAD)).toMatchObject({ ok: true, text: LARGEST_PAYLOAD })
    expect(driver.seen('handled').map((e) => e['route'])).toEqual(['echo', 'upper', 'echo', 'echo'])
  })

  it("gets the original's failures: a route that raises, an unknown route", async () => {
    const { port } = await originalServer()
    const client = await karpClient(port)
    expect(await client.request('fail', 'x')).toEqual({ ok: false, message: 'boom' })
    expect(await client.request('nosuch', 'x')).toEqual({ ok: false, message: "'nosuch'" })
  })

  it('sends a notification the original runs without answering', async () => {
    const { driver, port } = await originalServer()
    const client = await karpClient(port)
    await client.notify('echo', 'fire and forget')
    expect(await driver.event('handled')).toMatchObject({ route: 'echo', text: 'fire and forget', wants_reply: false })
    // The next request is answered on its own: the notification left nothing behind.
    expect(await client.request('echo', 'after')).toMatchObject({ ok: true, text: 'after' })
  })

  it('keeps many requests in flight, answered in whatever order they finish', async () => {
    const { port } = await originalServer()
    const client = await karpClient(port)
    // Delays in reverse order make the original finish the last request first. All frames
    // together stay within one 10 000-byte read of the original.
    const texts = Array.from({ length: 20 }, (_, i) => `${(20 - i) * 10}:reply ${i} é`)
    const replies = await Promise.all(texts.map((text) => client.request('slow', text)))
    expect(replies.map((reply) => (reply.ok ? reply.text : reply.message))).toEqual(texts.map((text) => text.split(':')[1]))
  })

  it("answers the original server's requests: a reply, a failure, a notification, and a call back during a request", async () => {
    const notes: KarpCall[] = []
    const { driver, port } = await originalServer()
    const client = await karpClient(port, {
      ping: (call) => `pong(${call.text})`,
      fail: () => {
        throw failure('client fail')
      },
      note: (call) => {
        notes.push(call)
      },
    })
    await driver.event('connection')
    expect(await driver.call('request', { route: 'ping', text: UNICODE })).toEqual({ successful: true, text: `pong(${UNICODE})` })
    expect(await driver.call('request', { route: 'fail', text: 'x' })).toEqual({ successful: false, text: 'client fail' })
    expect(await driver.call('request', { route: 'nosuch', text: 'x' })).toEqual({ successful: false, text: "'nosuch'" })
    expect(await driver.call('request', { route: 'note', text: 'quiet', response: false })).toBeNull()
    // The original's route asks ours back before it answers.
    expect(await client.request('reverse', 'x')).toMatchObject({ ok: true, text: 'client said pong(x)' })
    expect(notes.map((call) => [call.text, call.wantsReply])).toEqual([['quiet', false]])
  })

  it('answers `karp request`', async () => {
    // The original never closes its side; the command ends the connection once it is answered.
    const { port } = await originalServer()
    expect(await karpRequestCli(port, 'echo', UNICODE)).toMatchObject({ code: 0, stdout: `${UNICODE}\n` })
  })

  it('closes cleanly: the original sees the end of the connection', async () => {
    const { driver, port } = await originalServer()
    const client = await karpClient(port)
    expect(await client.request('echo', 'before')).toMatchObject({ ok: true })
    // The original never closes its side after our FIN, so our close cuts it after 1 s.
    await Promise.all([client.close(1_000), driver.event('lost')])
  })

  it('cuts the connection, and the original goes on serving', async () => {
    const { driver, port } = await originalServer()
    const first = await karpClient(port)
    expect(await first.request('echo', 'first')).toMatchObject({ ok: true })
    await first.abort()
    await driver.event('lost')
    const second = await karpClient(port)
    expect(await second.request('echo', 'second')).toMatchObject({ ok: true, text: 'second' })
  })
})

/**
 * Raw frames to our server and to the original's. Each case is followed, in the same write, by
 * a sentinel the original answers: it splits and parses what it reads in order, each line in a
 * task of its own, so once the sentinel is answered the lines before it have been handled.
 */
describe('original bugs our server fixes, with the original as the negative control', () => {
  const SENTINEL_ID = '9999999999999999'
  const sentinel = requestFrame('echo', SENTINEL_ID, 'sentinel')

  async function ourServer(): Promise<number> {
    const server = await karpServer(
      ourRoutes({
        Mixed: () => 'reached',
        num: () => 42,
      }),
    )
    return server.port
  }

  /** Sends `bytes` then the sentinel; resolves with the replies up to the sentinel's. */
  async function exchange(port: number, bytes: Uint8Array) {
    const peer = await connectRaw(port)
    await peer.write(Buffer.concat([bytes, sentinel]))
    await peer.until((all) => responses(all).some((line) => line.id === SENTINEL_ID))
    return { peer, replies: responses(peer.bytes()) }
  }

  it('reassembles a frame longer than one read (the original loses it)', async () => {
    const id = '0000000000000100'
    const big = requestFrame('echo', id, 'x'.repeat(15_000))
    const ours = await exchange(await ourServer(), big)
    expect(ours.replies.find((line) => line.id === id)).toMatchObject({ success: true, text: 'x'.repeat(15_000) })
    const { port } = await originalServer()
    const original = await exchange(port, big)
    expect(original.replies.map((line) => line.id)).toEqual([SENTINEL_ID])
  })

  it('reaches a route registered in mixed case (the original answers unknown route)', async () => {
    const id = '0000000000000101'
    const frame = requestFrame('mixed', id, 'x')
    const ours = await exchange(await ourServer(), frame)
    expect(ours.replies.find((line) => line.id === id)).toMatchObject({ success: true, text: 'reached' })
    const { port } = await originalServer()
    const original = await exchange(port, frame)
    expect(original.replies.find((line) => line.id === id)).toMatchObject({ success: false, text: "'mixed'" })
  })

  it('answers a C_LEN that does not match the data with a failure (the original ignores it)', async () => {
    const frame = wire('karp_raw_clen_mismatch/client/0')
    const ours = await exchange(await ourServer(), frame)
    expect(ours.replies.find((line) => line.id === '0000000000000002')?.text).toMatch(/^ERR_KARP_LENGTH_MISMATCH/)
    const { port } = await originalServer()
    const original = await exchange(port, frame)
    expect(original.replies.find((line) => line.id === '0000000000000002')).toMatchObject({ success: true, text: 'hi' })
  })

  it('answers bad base64 padding with a failure (the original never answers)', async () => {
    const frame = wire('karp_raw_bad_base64_padding/client/0')
    const ours = await exchange(await ourServer(), frame)
    expect(ours.replies.find((line) => line.id === '0000000000000003')?.text).toMatch(/^ERR_KARP_BAD_BASE64/)
    const { port } = await originalServer()
    const original = await exchange(port, frame)
    expect(original.replies.map((line) => line.id)).toEqual([SENTINEL_ID])
  })

  it('carries a payload that is not UTF-8 (the original never answers)', async () => {
    const id = '0000000000000104'
    const frame = requestFrame('echo', id, Uint8Array.of(0xff, 0x00, 0x80))
    const ours = await exchange(await ourServer(), frame)
    const reply = ours.replies.find((line) => line.id === id)
    expect(reply?.success).toBe(true)
    expect(Buffer.from(reply?.data ?? [])).toEqual(Buffer.of(0xff, 0x00, 0x80))
    const { port } = await originalServer()
    const original = await exchange(port, frame)
    expect(original.replies.map((line) => line.id)).toEqual([SENTINEL_ID])
  })

  it('answers a handler result that is not text with a failure (the original never answers)', async () => {
    const id = '0000000000000105'
    const frame = requestFrame('num', id, 'x')
    const ours = await exchange(await ourServer(), frame)
    expect(ours.replies.find((line) => line.id === id)?.text).toMatch(/^ERR_KARP_BAD_HANDLER_RESULT/)
    const { driver, port } = await originalServer()
    const original = await exchange(port, frame)
    await driver.event('handled', (e) => e['route'] === 'num')
    // Its handler runs on a thread pool and fails only when the reply is built, which may come
    // after the sentinel's: the wait for it is bounded.
    expect(await within(original.peer.until((all) => responses(all).some((line) => line.id === id)), NEVER_ANSWERED_WITHIN)).toBe('quiet')
  })

  it('drops raw bytes that are not UTF-8 and goes on (the original stops reading the connection)', async () => {
    const frame = Buffer.concat([Buffer.of(0xff, 0xfe, 0x0a), wire('karp_raw_non_utf8_bytes/client/1')])
    const ours = await exchange(await ourServer(), frame)
    expect(ours.replies.find((line) => line.id === '0000000000000015')).toMatchObject({ success: true, text: 'hi' })
    const { driver, port } = await originalServer()
    const peer = await connectRaw(port)
    await peer.write(Buffer.concat([frame, sentinel]))
    // Its read loop ends on the decode error: the connection is given up while still open,
    // and nothing after the bad bytes, sentinel included, is ever read.
    await driver.event('lost')
    expect(peer.bytes().length).toBe(0)
    expect(peer.socket.readableEnded).toBe(false)
  })
})
