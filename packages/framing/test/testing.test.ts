import { Buffer } from 'node:buffer'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { arbitraries } from '../src/testing/arbitraries.ts'
import { randomChunkings, splitAt } from '../src/testing/chunkings.ts'
import { duplexPair } from '../src/testing/duplex-pair.ts'
import { tcpPair } from '../src/testing/tcp-pair.ts'
import { loadVectors } from '../src/testing/vectors.ts'
import { numRuns } from './helpers.ts'

describe('randomChunkings', () => {
  it('includes the whole buffer and 1-byte chunks, and every chunking rebuilds the buffer', () => {
    const buf = Buffer.from('0123456789abcdefghij')
    const chunkings = randomChunkings(buf, 42, 6)
    expect(chunkings).toHaveLength(6)
    expect(chunkings[0]).toEqual([buf])
    expect(chunkings[1]?.every((c) => c.length === 1)).toBe(true)
    for (const chunks of chunkings) expect(Buffer.concat(chunks).equals(buf)).toBe(true)
  })

  it('is repeatable for a seed and differs across seeds', () => {
    const buf = Buffer.alloc(200, 1)
    const lengths = (seed: number) => randomChunkings(buf, seed).map((c) => c.map((p) => p.length))
    expect(lengths(7)).toEqual(lengths(7))
    expect(lengths(7)).not.toEqual(lengths(8))
  })

  it('refuses a count below 2', () => {
    expect(() => randomChunkings(Buffer.alloc(1), 1, 1)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })
})

describe('splitAt', () => {
  it('cuts at the offsets, as views', () => {
    const buf = Buffer.from('abcdef')
    expect(splitAt(buf, [1, 3, 3]).map(String)).toEqual(['a', 'bc', '', 'def'])
    expect(splitAt(buf, []).map(String)).toEqual(['abcdef'])
    expect(() => splitAt(buf, [3, 2])).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => splitAt(buf, [7])).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })
})

describe('duplexPair', () => {
  it('carries bytes both ways and half-closes like a socket', async () => {
    const [a, b] = duplexPair()
    const fromA: Buffer[] = []
    b.on('data', (c: Buffer) => fromA.push(c))
    a.end('ping')
    await new Promise((resolve) => b.once('end', resolve))
    expect(Buffer.concat(fromA).toString()).toBe('ping')
    expect(b.writable).toBe(true)
    const fromB: Buffer[] = []
    a.on('data', (c: Buffer) => fromB.push(c))
    b.end('pong')
    await new Promise((resolve) => a.once('end', resolve))
    expect(Buffer.concat(fromB).toString()).toBe('pong')
  })

  it('honours drain: a write completes only when the reader takes it', async () => {
    const [a, b] = duplexPair({ highWaterMark: 4 })
    expect(a.write(Buffer.alloc(8))).toBe(false)
    let drained = false
    a.once('drain', () => (drained = true))
    await new Promise((resolve) => setImmediate(resolve))
    expect(drained).toBe(false)
    expect(b.read()?.length).toBe(8)
    await new Promise((resolve) => setImmediate(resolve))
    expect(drained).toBe(true)
  })

  it('errors one end when the other is destroyed', async () => {
    const [a, b] = duplexPair()
    const err = new Promise<Error>((resolve) => b.once('error', resolve))
    a.destroy()
    expect(await err).toMatchObject({ code: 'ECONNRESET' })
  })
})

describe('tcpPair', () => {
  it('opens two connected half-open sockets on 127.0.0.1', async () => {
    const pair = await tcpPair()
    expect(pair.client.remoteAddress).toBe('127.0.0.1')
    expect(pair.server.remotePort).toBe(pair.client.localPort)
    pair.client.end('hi')
    const got: Buffer[] = []
    pair.server.on('data', (c: Buffer) => got.push(c))
    await new Promise((resolve) => pair.server.once('end', resolve))
    expect(Buffer.concat(got).toString()).toBe('hi')
    expect(pair.server.writable).toBe(true)
    await pair.close()
    expect(pair.client.destroyed && pair.server.destroyed).toBe(true)
  })
})

describe('loadVectors', () => {
  it.each(['karp', 'tej', 'oneline', 'krpc', 'korv'] as const)('loads %s from the shared vectors', (protocol) => {
    const vectors = loadVectors(protocol)
    expect(vectors.length).toBeGreaterThan(0)
    for (const v of vectors) {
      expect(Buffer.isBuffer(v.bytes)).toBe(true)
      expect(['client->server', 'server->client']).toContain(v.direction)
      if (v.hex !== undefined) expect(v.bytes.toString('hex')).toBe(v.hex.toLowerCase())
      else expect(v.bytes.toString('utf8')).toBe(v.text)
    }
  })

  it('takes bytes from hex ("" is empty) before text, and fails on a missing file or a bad entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'framing-vectors-'))
    try {
      const write = (entries: unknown) => writeFileSync(join(dir, 'karp.json'), JSON.stringify(entries))
      write([
        { name: 'h', direction: 'client->server', hex: '6869', text: 'ignored', meaning: 1 },
        { name: 'e', direction: 'server->client', hex: '', meaning: null },
        { name: 't', direction: 'server->client', text: 'hé', meaning: { a: 1 } },
      ])
      const [h, e, t] = loadVectors('karp', { dir })
      expect(String(h?.bytes)).toBe('hi')
      expect(h?.text).toBe('ignored')
      expect(e?.bytes.length).toBe(0)
      expect(t?.bytes.toString('hex')).toBe('68c3a9')
      expect(t?.meaning).toEqual({ a: 1 })
      expect(() => loadVectors('tej', { dir })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
      write([{ name: 'x', direction: 'client->server', meaning: 1 }])
      expect(() => loadVectors('karp', { dir })).toThrow(/neither hex nor text/)
      write([{ name: 'x', direction: 'sideways', hex: '' }])
      expect(() => loadVectors('karp', { dir })).toThrow(/direction/)
      write([{ name: 'x', direction: 'client->server', hex: 'zz' }])
      expect(() => loadVectors('karp', { dir })).toThrow(/hex/)
    } finally {
      rmSync(dir, { recursive: true })
    }
  })
})

describe('arbitraries', () => {
  it('makes lines without LF and chunkings that rebuild their buffer', () => {
    const arb = arbitraries(fc)
    fc.assert(
      fc.property(arb.line(), (line) => line.indexOf(0x0a) === -1),
      { numRuns },
    )
    fc.assert(
      fc.property(arb.bytes().chain((b) => fc.tuple(fc.constant(b), arb.chunked(b))), ([b, chunks]) =>
        Buffer.concat(chunks).equals(b),
      ),
      { numRuns },
    )
    fc.assert(
      fc.property(arb.offsets(10), (offsets) => offsets.every((o, i) => o >= (offsets[i - 1] ?? 0) && o <= 10)),
      { numRuns },
    )
  })
})
