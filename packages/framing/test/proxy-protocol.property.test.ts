import { Buffer } from 'node:buffer'
import net from 'node:net'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProxyHeaderError } from '../src/errors.ts'
import { ProxyHeaderDecoder, encodeProxyHeader } from '../src/proxy-protocol.ts'
import type { PeerInfo } from '../src/peer-info.ts'
import type { ProxyHeader, ProxyHeaderDecoderInit, ProxyProtocolMode, ProxyTlv } from '../src/proxy-protocol.ts'
import { arbitraries } from '../src/testing/arbitraries.ts'
import { numRuns } from './helpers.ts'

const arb = arbitraries(fc)

const port = fc.integer({ min: 0, max: 0xffff })
const ipv4 = fc.ipV4()
// Node's own form of an address: what the decoder is to give back.
const ipv6 = fc.ipV6().map((address) => new net.SocketAddress({ address, family: 'ipv6' }).address)
const peerPair = (address: fc.Arbitrary<string>): fc.Arbitrary<[PeerInfo, PeerInfo]> =>
  fc.tuple(fc.record({ address, port }), fc.record({ address, port }))
const ipPair = fc.oneof(peerPair(ipv4), peerPair(ipv6))
// Paths a sun_path carries whole: a name with no NUL, or an abstract one (a NUL, then a name not ending in one).
const unixPath = fc.oneof(
  fc.string({ unit: fc.constantFrom('/', 'a', 'z', '.', '-', '0', 'é'), maxLength: 54 }),
  fc.string({ unit: fc.constantFrom('\0', 'a', '@'), minLength: 1, maxLength: 100 }).filter((s) => !s.endsWith('\0')).map((s) => `\0${s}`),
)
const tlv: fc.Arbitrary<ProxyTlv> = fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 40 }) })

const withAddresses = (version: 1 | 2, transport: 'tcp' | 'udp', [source, destination]: [PeerInfo, PeerInfo]): ProxyHeader => ({
  version,
  command: 'proxy',
  transport,
  source,
  destination,
})

/** Any header either version can carry, with TLVs for v2. */
const headers: fc.Arbitrary<{ header: ProxyHeader; tlvs: ProxyTlv[] }> = fc.oneof(
  fc.oneof(
    ipPair.map((pair) => withAddresses(1, 'tcp', pair)),
    fc.constant<ProxyHeader>({ version: 1, command: 'proxy', transport: 'unknown' }),
  ).map((header) => ({ header, tlvs: [] })),
  fc.record({
    header: fc.oneof(
      fc.tuple(fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp'), ipPair).map(([transport, pair]) => withAddresses(2, transport, pair)),
      fc.tuple(unixPath, unixPath).map(
        ([a, b]): ProxyHeader => ({
          version: 2,
          command: 'proxy',
          transport: 'unix',
          source: { address: a, port: 0 },
          destination: { address: b, port: 0 },
        }),
      ),
      fc.constant<ProxyHeader>({ version: 2, command: 'proxy', transport: 'unknown' }),
      fc.constant<ProxyHeader>({ version: 2, command: 'local', transport: 'unknown' }),
    ),
    tlvs: fc.array(tlv, { maxLength: 5 }),
  }),
)

interface Outcome {
  header?: ProxyHeader
  length?: number
  payload?: Buffer
  error?: string
}

/**
 * What a decoder makes of `chunks`: the header, its length and the payload after it, or the
 * error; it also checks that every error is a ProxyHeaderError and that the decoder never holds
 * more than `maxBytes`.
 */
function decode(chunks: readonly Buffer[], init: ProxyHeaderDecoderInit & { maxBytes: number }): Outcome {
  const decoder = new ProxyHeaderDecoder(init)
  try {
    for (const [i, chunk] of chunks.entries()) {
      const decoded = decoder.push(chunk)
      expect(decoder.buffered).toBeLessThanOrEqual(init.maxBytes)
      if (decoded === undefined) continue
      expect(decoded.length).toBeLessThanOrEqual(init.maxBytes)
      const payload = Buffer.concat([chunk.subarray(decoded.offset), ...chunks.slice(i + 1)])
      return { header: decoded.header, length: decoded.length, payload }
    }
    decoder.end()
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyHeaderError)
    const { reason, message } = err as ProxyHeaderError
    return { error: `${reason}: ${message}` }
  }
  return expect.unreachable('end() returned without a header')
}

describe('PROXY header properties', () => {
  it('any chunking of a header and its payload decodes to the header, its length and the payload', () => {
    const cases = fc
      .record({ h: headers, payload: arb.bytes(64) })
      .map(({ h, payload }) => {
        const wire = encodeProxyHeader(h.header, { tlvs: h.tlvs })
        return { ...h, wire, input: Buffer.concat([wire, payload]), payload }
      })
      .chain((c) => fc.tuple(fc.constant(c), arb.chunked(c.input)))
    fc.assert(
      fc.property(cases, ([c, chunks]) => {
        const mode: ProxyProtocolMode = c.header.version === 1 ? 'v1' : 'v2'
        for (const init of [{ mode }, { mode: 'any' as const }]) {
          const out = decode(chunks, { ...init, maxBytes: Math.max(c.wire.length, 16) })
          expect(out.error).toBeUndefined()
          expect(out.header).toEqual(c.header)
          expect(out.length).toBe(c.wire.length)
          expect(out.payload).toEqual(c.payload)
        }
      }),
      { numRuns },
    )
  })

  it('decode(encode(x)) = x, and the bytes of a decoded header encode to themselves', () => {
    fc.assert(
      fc.property(headers, ({ header }) => {
        const wire = encodeProxyHeader(header)
        const decoded = new ProxyHeaderDecoder().push(wire)
        expect(decoded?.header).toEqual(header)
        expect(decoded && encodeProxyHeader(decoded.header)).toEqual(wire)
      }),
      { numRuns },
    )
  })

  it('any bytes give a header or a ProxyHeaderError, the same for any chunking, and nothing past maxBytes counts', () => {
    // Mostly the start of a real header, so that decoding gets past the first bytes.
    const prefixes = headers.map(({ header, tlvs }) => encodeProxyHeader(header, { tlvs }))
    const input = fc
      .tuple(fc.oneof(prefixes.chain((w) => fc.integer({ min: 0, max: w.length }).map((n) => w.subarray(0, n))), arb.bytes(8)), arb.bytes(300))
      .map(([head, tail]) => Buffer.concat([head, tail]))
    const cases = fc.record({
      input,
      mode: fc.constantFrom<ProxyProtocolMode>('v1', 'v2', 'any'),
      maxBytes: fc.integer({ min: 16, max: 400 }),
      other: arb.bytes(300),
    })
    fc.assert(
      fc.property(cases.chain((c) => fc.tuple(fc.constant(c), arb.chunked(c.input))), ([c, chunks]) => {
        const init = { mode: c.mode, maxBytes: c.maxBytes }
        const whole = decode([c.input], init)
        expect(decode(chunks, init)).toEqual(whole)
        if (c.input.length < c.maxBytes) return
        // Other bytes after the first maxBytes change nothing but the payload.
        const changed = decode([Buffer.concat([c.input.subarray(0, c.maxBytes), c.other])], init)
        expect({ ...changed, payload: undefined }).toEqual({ ...whole, payload: undefined })
      }),
      { numRuns },
    )
  })
})
