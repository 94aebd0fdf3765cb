import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { TextDecoder } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ErrorCode } from '../src/errors.ts'
import type { KrpcRequestError } from '../src/errors.ts'
import { FormReader } from '../src/form.ts'
import { resolveLimits } from '../src/limits.ts'
import type { KrpcLimits } from '../src/types.ts'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)

/** Reads `body` in the given pieces; the call text, or the error the reader reported. */
function read(body: Uint8Array, cuts: number[], limits: KrpcLimits = {}, decoder?: TextDecoder): string | KrpcRequestError | undefined {
  let error: KrpcRequestError | undefined
  const sink = {
    get failed() { return error !== undefined },
    fail(err: KrpcRequestError) { error ??= err },
  }
  const reader = new FormReader(resolveLimits(limits), sink, decoder)
  let from = 0
  for (const cut of [...cuts.filter((c) => c < body.length).sort((a, b) => a - b), body.length]) {
    reader.push(body.subarray(from, cut))
    from = cut
  }
  const text = reader.end()
  return error ?? text
}

const wide = { fields: 1000, fieldSize: 1 << 20, fieldNameSize: 1 << 20 }
const field = fc.tuple(fc.constantFrom('json', 'JSON', 'x', '', 'jso', 'json ', 'é'), fc.string({ unit: 'binary' }))

describe('FormReader', () => {
  it('reads any form as URLSearchParams does: the first json, else the first JSON, whatever the pieces', () => {
    fc.assert(fc.property(fc.array(field, { maxLength: 6 }), fc.array(fc.nat(400)), fc.boolean(), (fields, cuts, plus) => {
      let text = new URLSearchParams(fields).toString()
      // Browsers write a space as `+`, other clients as `%20`; both are a space.
      if (!plus) text = text.replaceAll('+', '%20')
      const params = new URLSearchParams(text)
      expect(read(Buffer.from(text), cuts, wide)).toEqual(params.get('json') ?? params.get('JSON') ?? undefined)
    }), { numRuns })
  })

  it('takes escapes in either case, skips empty fields, and keeps = inside a value', () => {
    expect(read(Buffer.from('&&JSON=a&json=%7b%7D%3d=&&json=2'), [1, 7, 15, 16])).toBe('{}==')
    expect(read(Buffer.from('x=1&JSON=up'), [])).toBe('up')
    expect(read(Buffer.from('x=1'), [])).toBeUndefined()
  })

  it('refuses a % without two hex digits, wherever the body is cut', () => {
    for (const body of ['json=%', 'json=%4', 'json=%4g', 'json=%%41']) {
      for (let cut = 0; cut <= body.length; cut++) {
        expect(read(Buffer.from(body), [cut])).toMatchObject({ code: ErrorCode.BAD_REQUEST, message: 'Malformed request body.' })
      }
    }
  })

  it('counts fields and checks names and values by their decoded bytes', () => {
    const limits = { fields: 2, fieldSize: 4, fieldNameSize: 4 }
    expect(read(Buffer.from('a=1&json=%31%32%33%34'), [], limits)).toBe('1234')
    expect(read(Buffer.from('a=1&json=%31%32%33%34%35'), [], limits)).toMatchObject({ code: ErrorCode.FIELD_TOO_LARGE })
    expect(read(Buffer.from('abcd=1'), [], limits)).toBeUndefined()
    expect(read(Buffer.from('abcde=1'), [], limits)).toMatchObject({ code: ErrorCode.FIELD_TOO_LARGE })
    expect(read(Buffer.from('a&b&json=1'), [], limits)).toMatchObject({ code: ErrorCode.TOO_MANY_PARTS })
  })

  it('decodes the kept value in the charset the body names', () => {
    expect(read(Buffer.from('json=%E9'), [], {}, new TextDecoder('latin1'))).toBe('é')
    expect(read(Buffer.from('json=%C3%A9'), [1, 8])).toBe('é')
  })

  it('holds at most twice fieldSize for a value that comes 1 byte a piece, each piece a view of a larger read', () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const fieldSize = 256 * 1024
    let error: KrpcRequestError | undefined
    const sink = { get failed() { return error !== undefined }, fail(err: KrpcRequestError) { error ??= err } }
    const used = (): number => {
      gc()
      gc()
      const { heapUsed, arrayBuffers } = process.memoryUsage()
      return heapUsed + arrayBuffers
    }
    const before = used()
    const reader = new FormReader(resolveLimits({ fieldSize }), sink)
    reader.push(Buffer.from('json='))
    // Each byte is a view of a 1 KiB read of its own: kept as they came, they would hold 256 MiB.
    for (let i = 0; i < fieldSize - 1; i++) {
      const read = Buffer.allocUnsafeSlow(1024)
      read[0] = 0x31
      reader.push(read.subarray(0, 1))
    }
    const held = used() - before
    expect(error).toBeUndefined()
    expect(held).toBeLessThan(2 * fieldSize)
    reader.push(Buffer.from('1'))
    expect(reader.end()).toBe('1'.repeat(fieldSize))
  })
})
