import { Buffer } from 'node:buffer'
import { crc32, deflateRawSync, gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { connect } from '../src/client.ts'
import type { KorvConnectOptions } from '../src/client.ts'
import { encodeMessage } from '../src/codec.ts'
import { createServer } from '../src/server.ts'
import type { KorvServerOptions } from '../src/server.ts'
import { fingerprintOf, keyPair, openRaw, startServer, startStub } from './helpers.ts'

const HEADER = Buffer.from('1f8b0800000000000003', 'hex')

/** What the member holding `member`'s JSON is at `level` (0: one stored block). */
function rewritten(member: Buffer, level: number): Buffer {
  const json = gunzipSync(member)
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(crc32(json), 0)
  trailer.writeUInt32LE(json.length, 4)
  if (level > 0) return Buffer.concat([HEADER, deflateRawSync(json, { level }), trailer])
  const block = Buffer.from([1, 0, 0, 0, 0])
  block.writeUInt16LE(json.length, 1)
  block.writeUInt16LE(json.length ^ 0xffff, 3)
  return Buffer.concat([HEADER, block, json, trailer])
}

/** The bytes of the reply to one GET /echo of `body`, as they came off the channel. */
async function replyBytes(options: Partial<KorvServerOptions>, body: unknown): Promise<Buffer> {
  const t = await startServer(options)
  const raw = await openRaw(t.port, t.clientKey.private)
  const packets: Buffer[] = []
  raw.channel.on('data', (chunk: Buffer) => packets.push(chunk))
  raw.request({ id: 1, verb: 'GET', resource: '/echo', body })
  expect(await raw.next()).toMatchObject({ request_id: 1, code: 200, body })
  await raw.close()
  await t.close()
  return Buffer.concat(packets)
}

/** The bytes of one GET /echo request of `body` from a client with `options`. */
async function requestBytes(options: Partial<KorvConnectOptions>, body: unknown): Promise<Buffer> {
  const packets: Buffer[] = []
  const stub = await startStub((request) => [encodeMessage({ id: 2, request_id: request.id, code: 200, body: null })], packets)
  const client = await connect({
    port: stub.port,
    privateKey: keyPair('ed25519', 1).private,
    hostKeyFingerprint: fingerprintOf(stub.hostKey.public),
    ...options,
  })
  expect(await client.get('/echo', body)).toEqual({ code: 200, body: null })
  await client.close()
  await stub.close()
  return Buffer.concat(packets)
}

const small = { name: 'item', n: 1 }
const large = Array.from({ length: 1000 }, (_, i) => ({ id: i, name: `item-${i}` }))
const big = 1024 * 1024

describe('compression option', () => {
  it('server: stores small replies and deflates large ones at level 1 by default', async () => {
    const stored = await replyBytes({}, small)
    expect(stored.equals(rewritten(stored, 0))).toBe(true)
    const deflated = await replyBytes({}, large)
    expect(deflated.equals(rewritten(deflated, 1))).toBe(true)
  })

  it('server: follows its level and threshold', async () => {
    const level9 = await replyBytes({ compression: { level: 9, threshold: 0 } }, small)
    expect(level9.equals(rewritten(level9, 9))).toBe(true)
    const level0 = await replyBytes({ compression: { level: 0 }, limits: { maxMessageBytes: big } }, large)
    expect(level0.equals(rewritten(level0, 0))).toBe(true)
  })

  it('client: stores small requests by default and follows its level and threshold', async () => {
    const stored = await requestBytes({}, small)
    expect(stored.equals(rewritten(stored, 0))).toBe(true)
    const level9 = await requestBytes({ compression: { level: 9, threshold: 0 } }, small)
    expect(level9.equals(rewritten(level9, 9))).toBe(true)
    const level0 = await requestBytes({ compression: { level: 0 }, limits: { maxMessageBytes: big } }, large)
    expect(level0.equals(rewritten(level0, 0))).toBe(true)
  })

  it('refuses bad settings with ERR_PROTO_USAGE, before anything starts', async () => {
    const t = await startServer()
    expect(() => createServer({ hostKeys: [t.hostKey.private], authorizedKeys: '', compression: { level: 10 } })).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_USAGE' }),
    )
    await expect(
      connect({ port: t.port, privateKey: t.clientKey.private, insecureAcceptAnyHostKey: true, compression: { threshold: -1 } }),
    ).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await t.close()
  })
})
