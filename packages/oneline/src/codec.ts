// The wire form of oneline, with no I/O: a line to its bytes, received bytes to text.
import { isUtf8 } from 'node:buffer'
import { ErrorCode as ProtoErrorCode, encodeLine as encodeFramedLine, isProtoError, toText } from '@proto/framing'
import { OnelineInvalidLineError } from './errors.ts'

// Outgoing lines have no length limit of their own: the receiver enforces its limit.
const UNLIMITED = { maxLineBytes: Number.MAX_SAFE_INTEGER } as const

/**
 * A command or response line as its wire bytes: UTF-8 plus LF. A line that contains LF would
 * arrive as two lines, so it throws `ERR_ONELINE_INVALID_LINE`.
 */
export function encodeLine(text: string): Uint8Array {
  try {
    return encodeFramedLine(text, UNLIMITED)
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
  const text = toText(raw)
  // Only a U+FFFD in the text can mean a replacement; the full check runs just then.
  return { text, invalid: text.includes('\uFFFD') && !isUtf8(raw) }
}
