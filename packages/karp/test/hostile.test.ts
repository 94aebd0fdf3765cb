import { Buffer } from 'node:buffer'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { connect } from '../src/client.ts'
import { decodeFrame, encodeRequest } from '../src/codec.ts'
import type { KarpError } from '../src/errors.ts'
import { createServer } from '../src/server.ts'
import type { KarpServer, KarpServerOptions } from '../src/types.ts'
import { RawClient, deferred } from './helpers.ts'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

const frame = (id: string, route: string, data: string, wantsReply = true): Buffer =>
  Buffer.from(encodeRequest({ route, id, data, wantsReply }))

let server: KarpServer | undefined
const clientErrors: KarpError[] = []

async function serve(options: KarpServerOptions = {}): Promise<number> {
  clientErrors.length = 0
  server = createServer({ handlers: { echo: (request) => request.data }, ...options })
  server.on('clientError', (err) => clientErrors.push(err))
  return (await server.listen({ port: 0 })).port
}

afterEach(async () => {
  await server?.close({ signal: AbortSignal.abort() })
  server = undefined
})

describe('hostile peers', () => {
  it('cuts off an LF-free stream before it holds more than maxFrameBytes and one chunk', async () => {
    const maxFrameBytes = 65_536
    const port = await serve({ limits: { maxFrameBytes } })
    const bystander = await connect({ port })
    const raw = await RawClient.connect(port)
    const chunk = Buffer.alloc(16_384, 0x41)
    let written = 0
    // Keep writing until the server gives up; the write callback of a destroyed socket errors.
    while (clientErrors.length === 0 && written < 64 * maxFrameBytes) {
      await raw.write(chunk).catch(() => {})
      written += chunk.length
    }
    await raw.ended
    expect(clientErrors).toHaveLength(1)
    const err = clientErrors[0] as KarpError & { size: number; limit: number }
    expect(err).toMatchObject({ code: 'ERR_KARP_FRAME_TOO_LARGE', limit: maxFrameBytes })
    expect(err.size).toBeGreaterThan(maxFrameBytes)
    expect(err.size).toBeLessThanOrEqual(maxFrameBytes + 65_536)
    expect((await bystander.request('echo', 'unaffected')).text()).toBe('unaffected')
    await bystander.close()
  })

  it('answers after 100 000 garbage lines, reporting each and holding none of them', async () => {
    const port = await serve()
    let reported = 0
    server?.removeAllListeners('clientError')
    server?.on('clientError', (err) => {
      if (err.code === 'ERR_KARP_BAD_FRAME') reported++
    })
    const raw = await RawClient.connect(port)
    // Collected before each reading, so only what the server keeps alive counts.
    const gc = exposeGc()
    gc()
    const before = process.memoryUsage().heapUsed
    const garbage = Buffer.from('this is not a frame at all\n'.repeat(10_000))
    for (let i = 0; i < 10; i++) await raw.write(garbage)
    await raw.write(frame('0000000000000042', 'echo', 'alive'))
    expect(decodeFrame(await raw.line())).toMatchObject({ id: '0000000000000042', success: true })
    expect(reported).toBe(100_000)
    // Nothing per line is kept: heap growth stays far below what 100 000 retained errors would take.
    gc()
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024)
    raw.destroy()
  })

  it('never runs more than maxInFlight handlers under a flood', async () => {
    let running = 0
    let most = 0
    const release = deferred()
    const port = await serve({
      limits: { maxInFlight: 8 },
      handlers: {
        slow: async () => {
          most = Math.max(most, ++running)
          await release.promise
          running--
          return 'ok'
        },
      },
    })
    const raw = await RawClient.connect(port)
    const flood = Array.from({ length: 200 }, (_, i) => frame(String(i).padStart(16, '0'), 'slow', ''))
    await raw.write(Buffer.concat(flood))
    const refused = []
    for (let i = 0; i < 192; i++) refused.push(decodeFrame(await raw.line()))
    expect(refused.every((f) => f.type === 'response' && !f.success)).toBe(true)
    expect(running).toBe(8)
    release.resolve()
    const done = []
    for (let i = 0; i < 8; i++) done.push(decodeFrame(await raw.line()))
    expect(done.every((f) => f.type === 'response' && f.success)).toBe(true)
    expect(most).toBe(8)
    raw.destroy()
  })

  it('rejects the server side calls and aborts handlers when a client resets mid-frame', async () => {
    const aborted = deferred<unknown>()
    const callback = deferred<unknown>()
    const started = deferred()
    const port = await serve({
      handlers: {
        echo: (request) => request.data,
        hold: (_request, ctx) => {
          ctx.signal.addEventListener('abort', () => aborted.resolve(ctx.signal.reason))
          ctx.connection.request('never').catch((err: unknown) => callback.resolve(err))
          started.resolve()
          return new Promise(() => {})
        },
      },
    })
    const bystander = await connect({ port })
    const raw = await RawClient.connect(port)
    await raw.write(frame('0000000000000001', 'hold', ''))
    await started.promise
    // The echo reply proves the server has read the half frame that came with it: a reset that
    // arrives together with unread bytes reads as a plain end of stream on Linux.
    await raw.write(Buffer.concat([frame('0000000000000002', 'echo', 'x'), Buffer.from('KARP_HEADecho0100000000')]))
    while (decodeFrame(await raw.line()).id !== '0000000000000002');
    // From inside a write callback Node sends FIN instead of RST, so reset one turn later.
    await new Promise((resolve) => setImmediate(resolve))
    raw.socket.resetAndDestroy()
    expect(await callback.promise).toMatchObject({ code: 'ERR_KARP_CLOSED', cause: expect.objectContaining({ code: 'ECONNRESET' }) })
    expect(await aborted.promise).toMatchObject({ code: 'ERR_KARP_CLOSED' })
    expect((await bystander.request('echo', 'fine')).text()).toBe('fine')
    await bystander.close()
  })

  it('rejects a client call with CLOSED when the server resets in the middle of the reply', async () => {
    const listener = net.createServer({ allowHalfOpen: true }, (socket) => {
      let step = 0
      socket.on('data', (chunk: Buffer) => {
        if (step++ === 0) {
          // Half a reply, and a request whose answer proves the client has read that half.
          const { id } = decodeFrame(chunk)
          socket.write(`${frame('0000000000000009', 'ping', '').toString()}KARP_HEAD11${id}C_LEN4KARP_DA`)
        } else {
          socket.resetAndDestroy()
        }
      })
    })
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    const { port } = listener.address() as net.AddressInfo
    const client = await connect({ port, handlers: { ping: () => 'pong' } })
    const closeEvent = deferred<unknown>()
    client.on('close', (err) => closeEvent.resolve(err))
    await expect(client.request('echo', 'x')).rejects.toMatchObject({
      code: 'ERR_KARP_CLOSED',
      cause: expect.objectContaining({ code: 'ECONNRESET' }),
    })
    expect(await closeEvent.promise).toMatchObject({ code: 'ERR_KARP_CLOSED' })
    await new Promise((resolve) => listener.close(resolve))
  })

  it('answers bytes 0xff 0xfe as a bad line and the next frame as usual', async () => {
    const port = await serve()
    const raw = await RawClient.connect(port)
    await raw.write(Buffer.concat([Buffer.from([0xff, 0xfe, 0x0a]), frame('0000000000000007', 'echo', 'ok')]))
    expect(decodeFrame(await raw.line())).toMatchObject({ id: '0000000000000007', success: true })
    expect(clientErrors.map((e) => e.code)).toEqual(['ERR_KARP_BAD_FRAME'])
    raw.destroy()
  })
})

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}
