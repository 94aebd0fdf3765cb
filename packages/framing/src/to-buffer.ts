// Conversions between bytes and text, without copying where a view will do.
import { Buffer } from 'node:buffer'

/** A Buffer view of `chunk`, without copying. */
export function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

/** `bytes` as UTF-8 text; a malformed sequence becomes U+FFFD. */
export function toText(bytes: Uint8Array): string {
  return toBuffer(bytes).toString('utf8')
}

/** The UTF-8 bytes of a string, or a view of bytes already given. */
export function toBytes(value: string | Uint8Array): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : toBuffer(value)
}
