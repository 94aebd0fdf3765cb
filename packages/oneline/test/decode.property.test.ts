import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { payloadJson } from '@proto/framing/cli'
import type { CaptureRecord, PayloadJson } from '@proto/framing/cli'
import { randomChunkings } from '@proto/framing/testing'
import { captureDecoder } from '../src/decode.ts'
import { ErrorCode } from '../src/errors.ts'
import { numRuns } from './helpers.ts'

const MAX_LINE_BYTES = 8

/** The decoder's records with each error as its code, for comparing runs. */
async function decodeAll(chunks: readonly Uint8Array[]): Promise<unknown[]> {
  const decoder = captureDecoder(MAX_LINE_BYTES)
  const records: CaptureRecord<PayloadJson>[] = []
  let offset = 0
  for (const chunk of chunks) {
    records.push(...(await decoder.push(chunk, offset)))
    offset += chunk.length
  }
  records.push(...(await decoder.end(offset)))
  return records.map((r) => ('frame' in r ? { offset: r.offset, frame: r.frame } : { offset: r.offset, code: (r.error as { code?: unknown }).code }))
}

/** What the capture holds, line by line: a frame, a line too long, or an unterminated last line. */
function model(bytes: Buffer): unknown[] {
  const records: unknown[] = []
  let start = 0
  for (let lf = bytes.indexOf(10); lf !== -1; start = lf + 1, lf = bytes.indexOf(10, start)) {
    const line = bytes.subarray(start, lf)
    records.push(line.length > MAX_LINE_BYTES ? { offset: start, code: ErrorCode.LINE_TOO_LONG } : { offset: start, frame: payloadJson(line) })
  }
  if (start < bytes.length) {
    const code = bytes.length - start > MAX_LINE_BYTES ? ErrorCode.LINE_TOO_LONG : ErrorCode.CLOSED
    records.push({ offset: start, code })
  }
  return records
}

/** Lines of text, of bytes that are not UTF-8, empty or past the limit, with or without a last LF. */
const capture = fc
  .tuple(
    fc.array(fc.oneof(fc.string({ maxLength: 12 }), fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b).toString('latin1'))), { maxLength: 12 }),
    fc.boolean(),
  )
  .map(([lines, terminated]) => {
    const parts = lines.map((l) => Buffer.from(l.replaceAll('\n', ''), 'latin1'))
    const joined = Buffer.concat(parts.flatMap((p) => [p, Buffer.from('\n')]))
    return terminated || joined.length === 0 ? joined : joined.subarray(0, -1)
  })

describe('decode properties', () => {
  it('decodes any capture the same in any chunking, line by line as the model says', async () => {
    await fc.assert(
      fc.asyncProperty(capture, fc.integer(), async (bytes, seed) => {
        const expected = model(bytes)
        for (const chunks of randomChunkings(bytes, seed, 4)) expect(await decodeAll(chunks)).toEqual(expected)
      }),
      { numRuns },
    )
  })
})
