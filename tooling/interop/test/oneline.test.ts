// oneline against the Python original (socket-oneline 0.0.10), both ways over 127.0.0.1: its
// OnelineClient against our server, our client against its OnelineServer, and raw sockets for
// every bug of the original that we fix, with the original as the negative control.
import { describe, expect, it } from 'vitest'
import { loadVectors } from '@proto/framing/testing'
import { startDriver } from './driver.ts'
import type { Driver } from './driver.ts'
import { interopEnvironment } from './environment.ts'
import { onelineClient, onelineConnectError, onelineSendCli, onelineServer, pythonJson } from './ours/oneline.ts'
import { connectRaw, NEVER_ANSWERED_WITHIN, RawListener, within } from './raw.ts'

interopEnvironment()

const vectors = loadVectors('oneline')
const wire = (name: string): Buffer => vectors.find((v) => v.name === name)?.bytes ?? expect.unreachable(name)

const UNICODE = 'héllo ✓ 日本語'
/** A command well within both sides' limits (ours: 64 KiB a line), read byte by byte by the original. */
const LONG = 'x'.repeat(16_384)

async function originalClient(port: number): Promise<Driver> {
  return (await startDriver('oneline', 'oneline_client.py', [String(port)], 'ready')).driver
}

async function originalServer(): Promise<{ driver: Driver; port: number }> {
  const { driver, ready } = await startDriver('oneline', 'oneline_server.py', [], 'listening')
  return { driver, port: ready['port'] as number }
}

/** Whether `promise` has settled by now (after the pending callbacks of this turn). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false
  promise.then(
    () => (done = true),
    () => (done = true),
  )
  await new Promise<void>((resolve) => setImmediate(resolve))
  return done
}

describe('the original client against our server', () => {
  it('connects with ping and pong, and gets one line, several, none, and the reply to an empty command', async () => {
    const server = await onelineServer()
    const client = await originalClient(server.port)
    expect(await client.call('connect')).toEqual({ connected: true, socket_open: true })
    expect(await client.call('send_recv', { cmd: 'cmd01' })).toEqual(['ack'])
    expect(await client.call('send_recv', { cmd: 'multi', lines: 3 })).toEqual(['r1', 'r2', 'r3'])
    await client.call('send', { cmd: 'silent' })
    // The reply to the next command comes first: the silent one sent nothing.
    expect(await client.call('send_recv', { cmd: '' })).toEqual(['cb:"":False'])
    expect(await client.call('send_recv', { cmd: 'ping' })).toEqual(['pong'])
    expect(server.commands.map((command) => command.text)).toEqual(['cmd01', 'multi', 'silent', ''])
  })

  it('carries UTF-8 both ways and a 16 KiB command', async () => {
    const server = await onelineServer()
    const client = await originalClient(server.port)
    await client.call('connect')
    expect(await client.call('send_recv', { cmd: UNICODE })).toEqual([`cb:${pythonJson(UNICODE)}:False`])
    expect(server.commands.at(-1)).toEqual({ text: UNICODE, invalid: false })
    expect(await client.call('send_recv', { cmd: 'unicode' })).toEqual([UNICODE])
    expect(await client.call('send_recv', { cmd: LONG })).toEqual([`cb:"${LONG}":False`])
  })

  it('answers commands sent before any reply is read, in order', async () => {
    const server = await onelineServer()
    const client = await originalClient(server.port)
    await client.call('connect')
    for (const cmd of ['cmd01', 'multi', 'ping', 'cmd01']) await client.call('send', { cmd })
    const lines = []
    for (let i = 0; i < 6; i++) lines.push(await client.call('recv'))
    expect(lines).toEqual(['ack', 'r1', 'r2', 'r3', 'pong', 'ack'])
  })

  it('serves one client at a time: the next, queued, gets its pong when the first disconnects', async () => {
    const server = await onelineServer()
    const first = await originalClient(server.port)
    const second = await originalClient(server.port)
    await first.call('connect')
    const secondConnected = second.call('connect')
    await server.queued(1)
    expect(await first.call('send_recv', { cmd: 'cmd01' })).toEqual(['ack'])
    expect(await settled(secondConnected)).toBe(false)
    await first.call('disconnect')
    expect(await secondConnected).toEqual({ connected: true, socket_open: true })
    expect(await second.call('send_recv', { cmd: 'cmd01' })).toEqual(['ack'])
  })

  it("stops on the original client's shutdown", async () => {
    const server = await onelineServer()
    const client = await originalClient(server.port)
    await client.call('connect')
    await client.call('shutdown')
    await server.shutDown
    await expect(connectRaw(server.port)).rejects.toThrow(/ECONNREFUSED/)
  })

  it('serves the next client when the original client resets its connection', async () => {
    const server = await onelineServer()
    const first = await originalClient(server.port)
    await first.call('connect')
    await first.call('abort')
    const second = await originalClient(server.port)
    expect(await second.call('connect')).toEqual({ connected: true, socket_open: true })
  })
})

describe('our client against the original server', () => {
  it('connects with ping and pong, and gets one line, several, none, and the reply to an empty command', async () => {
    const { driver, port } = await originalServer()
    const client = await onelineClient(port)
    expect(await client.request('cmd01')).toEqual(['ack'])
    expect(await client.request('multi', 3)).toEqual(['r1', 'r2', 'r3'])
    expect(await client.request('silent', 0)).toEqual([])
    expect(await client.request('')).toEqual(['cb:"":False'])
    await client.ping()
    expect(driver.seen('command').map((e) => e['text'])).toEqual(['cmd01', 'multi', 'silent', ''])
  })

  it('reads UTF-8 and sends a 16 KiB command; the original drops what is not ASCII, as the spec records', async () => {
    const { port } = await originalServer()
    const client = await onelineClient(port)
    expect(await client.request('unicode')).toEqual([UNICODE])
    expect(await client.request(LONG)).toEqual([`cb:"${LONG}":False`])
    expect(await client.request('héllo')).toEqual(['cb:"hllo":True'])
  })

  it('keeps many requests in flight, answered in order', async () => {
    const { port } = await originalServer()
    const client = await onelineClient(port)
    const commands = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? 'multi' : `c${i}`))
    const replies = await Promise.all(commands.map((cmd) => client.request(cmd, cmd === 'multi' ? 3 : 1)))
    expect(replies).toEqual(commands.map((cmd) => (cmd === 'multi' ? ['r1', 'r2', 'r3'] : [`cb:"${cmd}":False`])))
  })

  it('closes with disconnect, and the original serves the next client, which waited', async () => {
    const { port } = await originalServer()
    const first = await onelineClient(port)
    const second = onelineClient(port)
    expect(await first.request('cmd01')).toEqual(['ack'])
    expect(await first.request('cmd01')).toEqual(['ack'])
    expect(await settled(second)).toBe(false)
    await first.close()
    await first.closed
    expect(await (await second).request('cmd01')).toEqual(['ack'])
  })

  it('answers `oneline send`', async () => {
    const { port } = await originalServer()
    expect(await onelineSendCli(port, ['cmd01', 'unicode', 'ping'])).toMatchObject({ code: 0, stdout: `ack\n${UNICODE}\npong\n` })
  })

  it('stops the original with shutdown', async () => {
    const { driver, port } = await originalServer()
    const client = await onelineClient(port)
    await client.shutdown()
    await driver.event('stopped')
    await driver.exited
  })
})

describe('original bugs our server fixes, with the original as the negative control', () => {
  it('decodes UTF-8 (the original drops every byte over 0x7f and flags the command invalid)', async () => {
    const server = await onelineServer()
    const toOurs = await connectRaw(server.port)
    await toOurs.write(wire('utf8_multibyte_request'))
    expect((await toOurs.untilText('\n')).toString()).toBe('cb:"h\\u00e9llo":False\n')
    const { port } = await originalServer()
    const toOriginal = await connectRaw(port)
    await toOriginal.write(wire('utf8_multibyte_request'))
    expect(await toOriginal.untilText('\n')).toEqual(wire('utf8_multibyte_response'))
  })

  it('serves the next client after one leaves with a FIN and no disconnect (the original spins and serves no one)', async () => {
    const server = await onelineServer()
    const first = await connectRaw(server.port)
    const second = await connectRaw(server.port)
    await first.write('ping\n')
    await first.untilText('pong\n')
    await second.write('ping\n')
    first.socket.end()
    await first.ended
    expect((await second.untilText('\n')).toString()).toBe('pong\n')

    const { port } = await originalServer()
    const before = await connectRaw(port)
    const after = await connectRaw(port)
    await before.write('ping\n')
    await before.untilText('pong\n')
    await after.write('ping\n')
    before.socket.end()
    // Its reader now loops on recv() returning b'' and never looks at the next connection.
    expect(await within(after.untilText('\n'), NEVER_ANSWERED_WITHIN)).toBe('quiet')
  })

  it("serves the next client after one resets its connection (the original's server thread dies)", async () => {
    const server = await onelineServer()
    const first = await connectRaw(server.port)
    const second = await connectRaw(server.port)
    await first.write('ping\n')
    await first.untilText('pong\n')
    await second.write('ping\n')
    first.reset()
    expect((await second.untilText('\n')).toString()).toBe('pong\n')

    const { driver, port } = await originalServer()
    const before = await connectRaw(port)
    const after = await connectRaw(port)
    await before.write('ping\n')
    await before.untilText('pong\n')
    await after.write('ping\n')
    before.reset()
    await driver.event('stopped')
    // The waiting connection goes with the process, unanswered.
    await after.closed
    expect(after.bytes().length).toBe(0)
  })

  it('closes its socket when connect gets no pong (the original leaves it open)', async () => {
    const listener = await RawListener.open()
    const ours = onelineConnectError(listener.port)
    const toOurs = await listener.accepted()
    await toOurs.untilText('ping\n')
    await toOurs.write('nope\n')
    expect(await ours).toBe('ERR_ONELINE_BAD_PONG')
    await toOurs.ended

    const original = await originalClient(listener.port)
    const connected = original.call('connect')
    const toOriginal = await listener.accepted()
    await toOriginal.untilText('ping\n')
    await toOriginal.write('nope\n')
    expect(await connected).toEqual({ connected: false, socket_open: true })
    expect(toOriginal.socket.readableEnded).toBe(false)
  })

  it('keeps a reply line exactly as sent (the original strips its whitespace)', async () => {
    const listener = await RawListener.open()
    const ours = onelineClient(listener.port)
    const toOurs = await listener.accepted()
    await toOurs.untilText('ping\n')
    await toOurs.write('pong\n')
    const client = await ours
    const reply = client.request('cmd')
    await toOurs.untilText('cmd\n')
    await toOurs.write('  padded \r\n')
    expect(await reply).toEqual(['  padded \r'])

    const original = await originalClient(listener.port)
    const connected = original.call('connect')
    const toOriginal = await listener.accepted()
    await toOriginal.untilText('ping\n')
    await toOriginal.write('pong\n')
    await connected
    const stripped = original.call('send_recv', { cmd: 'cmd' })
    await toOriginal.untilText('cmd\n')
    await toOriginal.write('  padded \r\n')
    expect(await stripped).toEqual(['padded'])
  })
})
