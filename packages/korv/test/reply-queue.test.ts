import { describe, expect, it } from 'vitest'
import { encodeMessage } from '../src/codec.ts'
import { DEFAULT_LIMITS } from '../src/constants.ts'
import { ErrorCode } from '../src/errors.ts'
import { noise, openRaw, startServer } from './helpers.ts'

// Each request asks for a reply of about 27 KB that does not compress.
const echo = (id: number): Uint8Array => encodeMessage({ id, verb: 'GET', resource: '/echo', body: noise(20_000, id).toString('base64') })

describe('replies a peer does not read', () => {
  it('have finite defaults', () => {
    expect(DEFAULT_LIMITS.maxChannelReplyBytes).toBe(1_048_576)
    expect(DEFAULT_LIMITS.maxConnectionReplyBytes).toBe(4_194_304)
  })

  it('past maxConnectionReplyBytes end the connection with ERR_KORV_SLOW_READER', async () => {
    const t = await startServer({ limits: { maxChannelReplyBytes: 8_000_000, maxConnectionReplyBytes: 256 * 1024 } })
    const raw = await openRaw(t.port, t.clientKey.private)
    // ssh2's client reads up to its window and its stream buffer (2 MiB each), then stops.
    raw.channel.pause()
    const reported = t.nextClientError()
    for (let id = 1; id <= 250; id++) raw.send(echo(id))
    expect(await reported).toMatchObject({ code: ErrorCode.SLOW_READER, name: 'KorvSlowReaderError' })
    await raw.closed
    await t.close()
  })

  it('past maxChannelReplyBytes pause the channel, which reads on once the peer does', async () => {
    const t = await startServer({ limits: { maxChannelReplyBytes: 64 * 1024, maxConnectionReplyBytes: 64 * 1024 + 16 * 32_768 } })
    const raw = await openRaw(t.port, t.clientKey.private)
    raw.channel.pause()
    const count = 250
    for (let id = 1; id <= count; id++) raw.send(echo(id))
    // The writes reach the server only as it widens its window: all of them have left once it read them all.
    await new Promise<void>((resolve) => {
      const check = (): void => (raw.channel.writableLength === 0 ? resolve() : void raw.channel.once('drain', check))
      check()
    })
    raw.channel.resume()
    const ids = new Set<unknown>()
    for (let i = 0; i < count; i++) ids.add((await raw.next()).request_id)
    expect(ids.size).toBe(count)
    expect(t.clientErrors).toEqual([])
    await raw.close()
    await t.close()
  })
})
