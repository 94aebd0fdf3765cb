import { Buffer } from 'node:buffer'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { payloadJson } from '@proto/framing/cli'
import { randomChunkings } from '@proto/framing/testing'
import { decodeFrame, encodeRequest, encodeResponse } from '../src/codec.ts'
import { KarpCaptureDecoder } from '../src/decode.ts'
import { ErrorCode } from '../src/errors.ts'
import { numRuns } from './helpers.ts'

const MAX_FRAME_BYTES = 96
const CR = 0x0d

/** The decoder's records with each error as its code, for comparing runs. */
function decodeAll(chunks: readonly Uint8Array[]): unknown[] {
  const decoder = new KarpCaptureDecoder(MAX_FRAME_BYTES)
  const records = chunks.flatMap((chunk) => decoder.push(chunk))
  records.push(...decoder.end())
  return records.map((r) => ('frame' in r ? { offset: r.offset, frame: r.frame } : { offset: r.offset, code: (r.error as { code?: unknown }).code }))
}

/** One line as a connection reads it: skipped when blank or a lone CR, else a frame or the codec's fault. */
function lineRecord(offset: number, line: Buffer): unknown[] {
  if (line.length >= MAX_FRAME_BYTES) return [{ offset, code: ErrorCode.FRAME_TOO_LARGE }]
  if (line.length === 0 || (line.length === 1 && line[0] === CR)) return []
  try {
    const frame = decodeFrame(line)
    const payload = payloadJson(frame.data)
    return [
      frame.type === 'request'
        ? { offset, frame: { type: 'request', route: frame.route, id: frame.id, wantsReply: frame.wantsReply, ...payload } }
        : { offset, frame: { type: 'response', id: frame.id, success: frame.success, ...payload } },
    ]
  } catch (err) {
    return [{ offset, code: (err as { code?: unknown }).code }]
  }
}

/** What the capture holds, line by line; an unterminated last line is read as a line. */
function model(bytes: Buffer): unknown[] {
  const records: unknown[] = []
  let start = 0
  for (let lf = bytes.indexOf(10); lf !== -1; start = lf + 1, lf = bytes.indexOf(10, start)) {
    records.push(...lineRecord(start, bytes.subarray(start, lf)))
  }
  if (start < bytes.length) records.push(...lineRecord(start, bytes.subarray(start)))
  return records
}

const id = fc.stringMatching(/^[0-9]{16}$/)
const data = fc.oneof(fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }))
/** A frame's line without its LF: a request, a response, or one of them with a CR before the LF. */
const frameLine = fc
  .tuple(
    fc.oneof(
      fc.record({ route: fc.stringMatching(/^[a-z_]{1,6}$/), id, data, wantsReply: fc.boolean() }).map((f) => encodeRequest(f)),
      fc.record({ id, success: fc.boolean(), data }).map((f) => encodeResponse(f)),
    ),
    fc.boolean(),
  )
  .map(([frame, crlf]) => Buffer.concat([Buffer.from(frame).subarray(0, -1), crlf ? Buffer.from('\r') : Buffer.alloc(0)]))
/** Frames, blank lines, lone CRs, garbage and lines past the limit, with or without a last LF. */
const capture = fc
  .tuple(
    fc.array(
      fc.oneof(
        frameLine,
        fc.constantFrom(Buffer.alloc(0), Buffer.from('\r'), Buffer.from('KARP_HEAD'), Buffer.alloc(MAX_FRAME_BYTES * 2, 0x41)),
        fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
      ),
      { maxLength: 10 },
    ),
    fc.boolean(),
  )
  .map(([lines, terminated]) => {
    const joined = Buffer.concat(lines.flatMap((line) => [Buffer.from(line.toString('latin1').replaceAll('\n', ''), 'latin1'), Buffer.from('\n')]))
    return terminated || joined.length === 0 ? joined : joined.subarray(0, -1)
  })

describe('decode properties', () => {
  it('decodes any capture the same in any chunking, line by line as a connection reads it', () => {
    fc.assert(
      fc.property(capture, fc.integer(), (bytes, seed) => {
        const expected = model(bytes)
        for (const chunks of randomChunkings(bytes, seed, 4)) expect(decodeAll(chunks)).toEqual(expected)
      }),
      { numRuns },
    )
  })
})
