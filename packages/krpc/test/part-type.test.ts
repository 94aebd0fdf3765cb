import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PartTypeRewriter, multipartBoundary, rewriteTupleTypes } from '../src/part-type.ts'
import { multipart, wireBody } from './helpers.ts'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)

/** `bytes` through a rewriter in pieces cut at `cuts`. */
function rewrite(boundary: string, bytes: Buffer, cuts: readonly number[] = []): Buffer {
  const out: Buffer[] = []
  const rewriter = new PartTypeRewriter(boundary, (piece) => out.push(Buffer.from(piece)))
  let at = 0
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    rewriter.push(bytes.subarray(at, cut))
    at = cut
  }
  rewriter.push(bytes.subarray(at))
  rewriter.end()
  return Buffer.concat(out)
}

const ORIGINAL_BOUNDARY = '-----KrOnOsThEwIzArD'

describe('rewriteTupleTypes', () => {
  it('writes the type inside a tuple, application/octet-stream for None, and leaves other headers alone', () => {
    const block = (type: string): Buffer => Buffer.from(`Content-Disposition: form-data; name="f"; filename="a"\r\nContent-Type: ${type}\r\n\r\n`, 'latin1')
    expect(rewriteTupleTypes(block("('application/octet-stream', None)"))).toEqual(block('application/octet-stream'))
    expect(rewriteTupleTypes(block("('text/plain', None)"))).toEqual(block('text/plain'))
    expect(rewriteTupleTypes(block("('application/x-tar', 'gzip')"))).toEqual(block('application/x-tar'))
    expect(rewriteTupleTypes(block('(None, None)'))).toEqual(block('application/octet-stream'))
    for (const type of ['text/csv', "('text/plain')", "('a', None, None)", "x ('text/plain', None)"]) {
      expect(rewriteTupleTypes(block(type))).toEqual(block(type))
    }
    const other = Buffer.from("Content-Disposition: form-data; name=\"('text/plain', None)\"\r\n\r\n")
    expect(rewriteTupleTypes(other)).toBe(other)
  })
})

describe('multipartBoundary', () => {
  it('reads a token or a quoted string', () => {
    expect(multipartBoundary(`multipart/form-data; boundary=${ORIGINAL_BOUNDARY}`)).toBe(ORIGINAL_BOUNDARY)
    expect(multipartBoundary('multipart/form-data; charset=utf-8; Boundary="a b\\"c"')).toBe('a b"c')
    expect(multipartBoundary('multipart/form-data')).toBeUndefined()
  })
})

describe('PartTypeRewriter', () => {
  const original = wireBody('file_upload_text_request')
  const fixed = Buffer.from(original.toString('latin1').replace("Content-Type: ('text/plain', None)", 'Content-Type: text/plain'), 'latin1')

  it("rewrites the original client's part type in file_upload_text, in any chunking, and nothing else", () => {
    expect(original.includes("Content-Type: ('text/plain', None)\r\n")).toBe(true)
    expect(rewrite(ORIGINAL_BOUNDARY, original)).toEqual(fixed)
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: original.length }), { maxLength: 12 }), (cuts) => {
      expect(rewrite(ORIGINAL_BOUNDARY, original, cuts)).toEqual(fixed)
    }), { numRuns })
    // One byte a piece.
    expect(rewrite(ORIGINAL_BOUNDARY, original, Array.from({ length: original.length }, (_, i) => i))).toEqual(fixed)
  })

  it('leaves part data alone, a tuple header written in a file included, and any body without tuples', () => {
    const inData = `x\r\n--not-it\r\nContent-Type: ('text/plain', None)\r\n\r\n`
    const body = multipart('B', [{ name: 'json', data: '{}' }, { name: 'f', filename: 'a', type: "('application/octet-stream', None)", data: inData }])
    const expected = Buffer.from(body.toString('latin1').replace("Content-Type: ('application/octet-stream', None)", 'Content-Type: application/octet-stream'), 'latin1')
    expect(expected.includes(inData)).toBe(true)
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: body.length }), { maxLength: 12 }), (cuts) => {
      expect(rewrite('B', body, cuts)).toEqual(expected)
    }), { numRuns })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 6 }), (data, cuts) => {
      const plain = multipart('B', [{ name: 'f', filename: 'a', type: 'text/plain', data }])
      expect(rewrite('B', plain, cuts.map((c) => Math.min(c, plain.length)))).toEqual(plain)
    }), { numRuns })
  })

  it('passes on part headers that never end, and ones past busboy\'s limit', () => {
    const cut = Buffer.from('--B\r\nContent-Disposition: form-data; name="f"\r\nContent-Type: (None, None)')
    expect(rewrite('B', cut)).toEqual(cut)
    const long = Buffer.concat([Buffer.from('--B\r\nX: '), Buffer.alloc(20_000, 0x61), Buffer.from('\r\n\r\ndata')])
    expect(rewrite('B', long, [10, 5000, 16_390])).toEqual(long)
  })
})
