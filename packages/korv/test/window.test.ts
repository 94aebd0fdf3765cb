import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import { encodeMessage } from '../src/codec.ts'
import { createDemoHandlers } from '../src/demo.ts'
import { ErrorCode } from '../src/errors.ts'
import { noise, openRaw, startServer } from './helpers.ts'

/** A server whose single in-flight slot a `/hang` request holds until `release()`: it then reads nothing. */
async function blockedServer() {
  let release = (): void => {}
  const held = new Promise<void>((resolve) => (release = resolve))
  const handlers = createDemoHandlers()
  handlers.GET['/hang'] = async () => {
    await held
  }
  const t = await startServer({ handlers, limits: { maxInFlight: 1 } })
  return { t, release }
}

/**
 * Makes ssh2's client ignore the window the server granted, as a hostile peer would, in packets of
 * one byte less than the maximum so that the window never lands on exactly 0 (where ssh2 alone
 * drops data).
 */
const ignoreWindow = (channel: object): void => {
  const outgoing = (channel as { outgoing: { window: number; packetSize: number } }).outgoing
  outgoing.window = Number.MAX_SAFE_INTEGER
  outgoing.packetSize = 32 * 1024 - 1
}

describe('channel window', () => {
  it('a peer writing past the window granted is cut off with ERR_KORV_CHANNEL_WINDOW', async () => {
    const { t, release } = await blockedServer()
    const raw = await openRaw(t.port, t.clientKey.private)
    raw.request({ id: 1, verb: 'GET', resource: '/hang' })
    raw.request({ id: 2, verb: 'GET', resource: '/hello' })
    const reported = t.nextClientError()
    ignoreWindow(raw.channel)
    // Three windows' worth: ssh2 alone would take all of it in, unread.
    raw.send(noise(6 * 1024 * 1024))
    const err = await reported
    expect(err).toMatchObject({ code: ErrorCode.CHANNEL_WINDOW, name: 'KorvChannelWindowError' })
    // Caught within one packet past the window, not after the whole write.
    const past = Number(/(\d+) bytes past/.exec(err.message)?.[1])
    expect(past).toBeGreaterThan(32 * 1024)
    expect(past).toBeLessThanOrEqual(2 * 32 * 1024)
    await raw.closed
    release()
    await t.close()
  })

  it('a peer pinning memory with tiny packets within the window is cut off', async () => {
    const { t, release } = await blockedServer()
    const raw = await openRaw(t.port, t.clientKey.private)
    raw.request({ id: 1, verb: 'GET', resource: '/hang' })
    raw.request({ id: 2, verb: 'GET', resource: '/hello' })
    const reported = t.nextClientError()
    // One SSH packet per byte: ssh2 alone would keep about 1 KiB of memory for each, for 4 MiB of them.
    const one = Buffer.from('x')
    for (let i = 0; i < 20_000; i++) raw.channel.write(one)
    const err = await reported
    expect(err).toMatchObject({ code: ErrorCode.CHANNEL_WINDOW })
    expect(err.message).toMatch(/unread channel packets hold \d+ bytes/)
    await raw.closed
    release()
    await t.close()
  })

  it('a peer within the window is read in full once the server reads again', async () => {
    const { t, release } = await blockedServer()
    const raw = await openRaw(t.port, t.clientKey.private)
    raw.request({ id: 0, verb: 'GET', resource: '/hang' })
    // About 4 MiB of requests while the server reads nothing: more than two windows.
    const count = 220
    const body = noise(20_000).toString('base64')
    let sent = 0
    for (let id = 1; id <= count; id++) {
      const bytes = encodeMessage({ id, verb: 'GET', resource: '/echo', body })
      sent += bytes.length
      raw.send(bytes)
    }
    expect(sent).toBeGreaterThan(4 * 1024 * 1024)
    release()
    const ids = new Set<unknown>()
    for (let i = 0; i <= count; i++) ids.add((await raw.next()).request_id)
    expect(ids.size).toBe(count + 1)
    expect(t.clientErrors).toEqual([])
    await raw.close()
    await t.close()
  })
})
