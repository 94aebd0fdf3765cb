import { isUtf8 } from 'node:buffer'
import { ErrorCode as ProtoErrorCode, encodeLine as encodeFramedLine, isProtoError } from '@proto/framing'
import { OnelineInvalidLineError } from './errors.ts'

// ignoreBOM keeps a leading U+FEFF: it is part of the command, not a marker to drop.
const replacingDecoder = new TextDecoder('utf-8', { ignoreBOM: true })

/**
 * A command or response line as its wire bytes: UTF-8 plus LF. A line that contains LF would
 * arrive as two lines, so it throws `ERR_ONELINE_INVALID_LINE`.
 */
export function encodeLine(text: string): Uint8Array {
  try {
    // Outgoing lines have no length limit: the receiver enforces its own.
    return encodeFramedLine(text, { maxLineBytes: Number.MAX_SAFE_INTEGER })
  } catch (err) {
    if (isProtoError(err) && err.code === ProtoErrorCode.INVALID_FRAME) throw new OnelineInvalidLineError({ cause: err })
    throw err
  }
}

/**
 * Received line bytes (LF removed) as text. Invalid UTF-8 becomes U+FFFD, one per maximal bad
 * subsequence as the WHATWG decoder does, and sets `invalid`; valid multi-byte text is kept
 * (the original dropped every byte above 0x7F).
 */
export function decodeCommand(raw: Uint8Array): { text: string; invalid: boolean } {
  if (isUtf8(raw)) return { text: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'), invalid: false }
  return { text: replacingDecoder.decode(raw), invalid: true }
}
