// The gzip member of one message: stored deflate blocks written by hand, or zlib's deflate at a level.
import { Buffer } from 'node:buffer'
import { crc32, deflateRawSync } from 'node:zlib'
import { UsageError } from '@proto/framing'
import { DEFAULT_COMPRESSION_LEVEL, DEFAULT_COMPRESSION_THRESHOLD } from './constants.ts'
import type { KorvCompressionOptions } from './constants.ts'
import { KorvMessageTooLargeError } from './errors.ts'

/** `KorvCompressionOptions` with its defaults applied, checked. */
export interface Compression {
  readonly level: number
  readonly threshold: number
}

/** What writing a member needs, checked once per client or server rather than per message. */
export interface MessageEncoding {
  readonly maxMessageBytes: number
  readonly compression: Compression
}

// As `zlib.gzipSync` writes it on Linux: no mtime, no flags, no XFL, OS 3 (Unix).
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03])
const TRAILER = 8
// A stored block (RFC 1951 §3.2.4): one byte with BFINAL and BTYPE 00, LEN and NLEN (u16 LE),
// then at most 65 535 bytes.
const STORED_HEADER = 5
const STORED_MAX = 65_535

/**
 * Checks `options` and applies the defaults.
 * @throws {UsageError} when `level` is not an integer from 0 to 9 or `threshold` not one from 0
 */
export function checkCompression(options?: KorvCompressionOptions): Compression {
  const level = options?.level ?? DEFAULT_COMPRESSION_LEVEL
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new UsageError(`compression.level must be an integer from 0 to 9, got ${String(level)}`)
  }
  const threshold = options?.threshold ?? DEFAULT_COMPRESSION_THRESHOLD
  if (!Number.isSafeInteger(threshold) || threshold < 0) {
    throw new UsageError(`compression.threshold must be an integer from 0 to 2^53 - 1, got ${String(threshold)}`)
  }
  return { level, threshold }
}

/** Bytes of the member that holds `length` bytes in stored blocks. */
function storedSize(length: number): number {
  return GZIP_HEADER.length + STORED_HEADER * Math.max(1, Math.ceil(length / STORED_MAX)) + length + TRAILER
}

/**
 * The member of an ASCII JSON `text`. Below the threshold, or at level 0, it is stored: a copy
 * and a CRC-32 cost far less than a zlib context, which a small message would not repay. A
 * message that does not fit `maxMessageBytes` stored is deflated.
 * @throws {KorvMessageTooLargeError} when it does not fit deflated either
 */
export function gzipMember(text: string, encoding: MessageEncoding): Buffer {
  const { maxMessageBytes, compression } = encoding
  const stored = storedSize(text.length)
  if ((compression.level === 0 || text.length < compression.threshold) && stored <= maxMessageBytes) return storedMember(text, stored)
  const json = Buffer.from(text, 'latin1')
  // Level 0 chose stored blocks; a text that does not fit them is deflated at the default level.
  const deflated = deflateRawSync(json, { level: compression.level === 0 ? DEFAULT_COMPRESSION_LEVEL : compression.level })
  const size = GZIP_HEADER.length + deflated.length + TRAILER
  if (size > maxMessageBytes) {
    throw new KorvMessageTooLargeError(`message of ${size} gzip bytes is over maxMessageBytes ${maxMessageBytes}`, {
      size,
      limit: maxMessageBytes,
    })
  }
  const out = Buffer.allocUnsafe(size)
  GZIP_HEADER.copy(out, 0)
  deflated.copy(out, GZIP_HEADER.length)
  writeTrailer(out, crc32(json), json.length)
  return out
}

/** `text` (ASCII, so its Latin-1 bytes are its UTF-8 bytes) in stored blocks, written in place. */
function storedMember(text: string, size: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  GZIP_HEADER.copy(out, 0)
  let at = GZIP_HEADER.length
  let from = 0
  let crc = 0
  do {
    const length = Math.min(STORED_MAX, text.length - from)
    const last = from + length === text.length
    out[at] = last ? 1 : 0
    out.writeUInt16LE(length, at + 1)
    out.writeUInt16LE(length ^ 0xffff, at + 3)
    at += STORED_HEADER
    out.write(length === text.length ? text : text.slice(from, from + length), at, 'latin1')
    crc = crc32(out.subarray(at, at + length), crc)
    at += length
    from += length
  } while (from < text.length)
  writeTrailer(out, crc, text.length)
  return out
}

function writeTrailer(out: Buffer, crc: number, length: number): void {
  out.writeUInt32LE(crc, out.length - TRAILER)
  // ISIZE is the length modulo 2^32.
  out.writeUInt32LE(length % 0x1_0000_0000, out.length - 4)
}
