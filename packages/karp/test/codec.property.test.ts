import { Buffer } from 'node:buffer'
import { LineDecoder, escapeControl, isProtoError } from '@proto/framing'
import { arbitraries, duplexPair, splitAt } from '@proto/framing/testing'
import * as fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeRequest, encodeResponse } from '../src/codec.ts'
import type { KarpFrame } from '../src/frame.ts'
import { KarpError } from '../src/errors.ts'
import { generateId } from '../src/id.ts'
import { connectionOn, numRuns, publicError } from './helpers.ts'

const route = fc.stringMatching(/^[a-z_]{1,32}$/)
const id = fc.stringMatching(/^[0-9]{16}$/)
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 65_536, size: 'medium' }),
  fc.string({ unit: 'binary', maxLength: 4096 }),
  fc.uint8Array({ maxLength: 64 }),
)
const frame: fc.Arbitrary<KarpFrame> = fc.oneof(
  fc.record({ type: fc.constant('request' as const), route, id, wantsReply: fc.boolean(), data: payload }),
  fc.record({ type: fc.constant('response' as const), id, success: fc.boolean(), data: payload }),
) as fc.Arbitrary<KarpFrame>

function encode(f: KarpFrame): Buffer {
  return Buffer.from(f.type === 'request' ? encodeRequest(f) : encodeResponse(f))
}

function asBytes(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data)
}

describe('codec properties', () => {
  it('decode(encode(x)) is x, C_LEN is the base64 length, and the only LF is the last byte', () => {
    fc.assert(
      fc.property(frame, (f) => {
        const bytes = encode(f)
        const decoded = decodeFrame(bytes)
        expect(decoded).toEqual({ ...f, data: asBytes(f.data) })
        expect(bytes.indexOf(0x0a)).toBe(bytes.length - 1)
        const text = bytes.toString('latin1')
        const b64 = asBytes(f.data).toString('base64')
        expect(text).toContain(`C_LEN${b64.length}KARP_DATA${b64}KARP_END\n`)
        expect(Buffer.from(encode(decoded))).toEqual(bytes)
      }),
      { numRuns },
    )
  })

  it('any chunking of a stream of frames gives the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(frame, { minLength: 1, maxLength: 8 }).chain((frames) => {
          const stream = Buffer.concat(frames.map(encode))
          return fc.tuple(fc.constant(frames), fc.constant(stream), arbitraries(fc).offsets(stream.length))
        }),
        ([frames, stream, offsets]) => {
          const decoder = new LineDecoder({ maxLineBytes: stream.length, trailing: 'emit' })
          const lines = [...splitAt(stream, offsets).flatMap((chunk) => decoder.push(chunk)), ...decoder.end()]
          expect(lines.map((line) => decodeFrame(line))).toEqual(frames.map((f) => ({ ...f, data: asBytes(f.data) })))
        },
      ),
      { numRuns },
    )
  })

  it('one-byte chunks give the same frames', () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 3 }), (frames) => {
        const stream = Buffer.concat(frames.map(encode))
        const decoder = new LineDecoder({ maxLineBytes: stream.length, trailing: 'emit' })
        const lines: Buffer[] = []
        for (let i = 0; i < stream.length; i++) lines.push(...decoder.push(stream.subarray(i, i + 1)))
        expect(lines.map((line) => decodeFrame(line))).toEqual(frames.map((f) => ({ ...f, data: asBytes(f.data) })))
      }),
      { numRuns: Math.max(1, Math.floor(numRuns / 10)) },
    )
  })

  it('random lines throw only karp errors, whose messages print as they are: no peer byte reaches a log raw', () => {
    const head = fc.constantFrom('', 'KARP_HEAD', 'KARP_HEADecho01', 'KARP_HEAD11', 'KARP_HEAD10')
    const tail = fc.uint8Array({ maxLength: 80 })
    const mutation = frame.chain((f) =>
      fc.tuple(fc.constant(encode(f)), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([bytes, at, byte]) => {
        const copy = Buffer.from(bytes)
        copy[at % copy.length] = byte
        return copy
      }),
    )
    fc.assert(
      fc.property(fc.oneof(fc.tuple(head, tail).map(([h, t]) => Buffer.concat([Buffer.from(h), t])), mutation), (line) => {
        try {
          decodeFrame(line)
        } catch (err) {
          expect(err).toBeInstanceOf(KarpError)
          expect(isProtoError(err)).toBe(true)
          const { message } = err as KarpError
          expect(escapeControl(message)).toBe(message)
        }
      }),
      { numRuns },
    )
  })

  it('generated ids are 16 digits and never one already pending', () => {
    fc.assert(
      fc.property(fc.uniqueArray(id, { maxLength: 64 }), (pendingIds) => {
        const taken = new Set(pendingIds)
        for (let i = 0; i < 32; i++) {
          const next = generateId(taken)
          expect(next).toMatch(/^[0-9]{16}$/)
          expect(taken.has(next)).toBe(false)
          taken.add(next)
        }
      }),
      { numRuns },
    )
  })

  it('draws again when the id is taken', () => {
    let calls = 0
    const first = generateId({ has: () => calls++ < 5 })
    expect(calls).toBe(6)
    expect(first).toMatch(/^[0-9]{16}$/)
  })

  it('concurrent requests with random handler delays all settle with their own replies', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.string({ maxLength: 40 }), fc.nat({ max: 20 }), fc.boolean()), { minLength: 1, maxLength: 40 }),
        async (calls) => {
          const [a, b] = duplexPair()
          // Each handler waits for a number of turns of the event loop, so replies come back in
          // another order than the requests went out.
          const server = connectionOn(b, {
            handlers: {
              work: async (request) => {
                const [turns, fail] = JSON.parse(request.text.slice(0, request.text.indexOf('|'))) as [number, boolean]
                for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve))
                if (fail) throw publicError(`failed ${request.text}`)
                return `done ${request.text}`
              },
            },
          })
          const client = connectionOn(a)
          const results = await Promise.allSettled(
            calls.map(([text, turns, fail]) => client.request('work', `${JSON.stringify([turns, fail])}|${text}`)),
          )
          results.forEach((result, i) => {
            const [text, turns, fail] = calls[i] ?? expect.unreachable()
            const sent = `${JSON.stringify([turns, fail])}|${text}`
            if (fail) expect(result).toMatchObject({ status: 'rejected', reason: { code: 'ERR_KARP_REMOTE', message: `failed ${sent}` } })
            else expect(result.status === 'fulfilled' ? result.value.text() : result.reason).toBe(`done ${sent}`)
          })
          await Promise.all([client.close(), server.closed])
        },
      ),
      { numRuns: Math.max(1, Math.floor(numRuns / 4)) },
    )
  })
})
