// The `decode` verb's incremental decoder: the lines of a capture, with a fault where a line is too long or cut short.
import { CaptureLines, payloadJson } from '@proto/framing/cli'
import type { CaptureDecoder, CaptureLine, CaptureRecord, PayloadJson } from '@proto/framing/cli'
import { toOnelineError } from './errors.ts'

/**
 * A decoder of one direction of a oneline connection (commands and responses are lines alike):
 * each line as `{ text }`, or base64 when it is not UTF-8; a line over `maxLineBytes` as
 * `ERR_ONELINE_LINE_TOO_LONG`, decoding on after its LF; an unterminated last line as
 * `ERR_ONELINE_CLOSED`. It holds at most `maxLineBytes` of an unfinished line.
 */
export function captureDecoder(maxLineBytes: number): CaptureDecoder<PayloadJson> {
  const lines = new CaptureLines({ maxLineBytes })
  const records = (found: CaptureLine[]): CaptureRecord<PayloadJson>[] =>
    found.map((r) => ('line' in r ? { offset: r.offset, frame: payloadJson(r.line) } : { offset: r.offset, error: toOnelineError(r.error) }))
  return { push: (chunk) => records(lines.push(chunk)), end: () => records(lines.end()) }
}
