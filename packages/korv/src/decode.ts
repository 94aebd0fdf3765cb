/** The `decode` verb's incremental decoder: one direction of a korv channel, gzip member by member. */
import { Buffer } from 'node:buffer'
import { crc32, inflateRawSync } from 'node:zlib'
import type { CaptureDecoder, CaptureRecord } from '@proto/framing/cli'
import { decodeJson } from './codec.ts'
import { KorvBadMessageError, KorvMessageTooLargeError } from './errors.ts'

/** The limits a capture is decoded with, as a server applies them. */
export interface CaptureLimits {
  maxMessageBytes: number
  maxJsonBytes: number
}

const ID1 = 0x1f
const ID2 = 0x8b
const DEFLATE = 8
const FHCRC = 2
const FEXTRA = 4
const FNAME = 8
const FCOMMENT = 16

type Step = { kind: 'more' } | { kind: 'member'; size: number; json: Buffer } | { kind: 'fault'; error: Error; skip: number }

/** Where the header of the member at the start of `bytes` ends, or -1 when more bytes are needed. */
function headerEnd(bytes: Buffer): number {
  if (bytes.length < 10) return -1
  const flags = bytes[3] ?? 0
  let at = 10
  if ((flags & FEXTRA) !== 0) {
    if (bytes.length < at + 2) return -1
    at += 2 + bytes.readUInt16LE(at)
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if ((flags & flag) === 0) continue
    const zero = bytes.indexOf(0, at)
    if (zero === -1) return -1
    at = zero + 1
  }
  if ((flags & FHCRC) !== 0) at += 2
  return at > bytes.length ? -1 : at
}

/** One member at the start of `bytes`, with `final` when no more bytes will come. */
function step(bytes: Buffer, limits: CaptureLimits, final: boolean): Step {
  if (bytes.length < 3 && !final) return { kind: 'more' }
  if (bytes[0] !== ID1 || bytes[1] !== ID2 || bytes[2] !== DEFLATE) {
    return { kind: 'fault', error: new KorvBadMessageError('not a gzip member'), skip: 1 }
  }
  const cut = (): Step =>
    final
      ? { kind: 'fault', error: new KorvBadMessageError('input ended inside a message'), skip: bytes.length }
      : bytes.length > limits.maxMessageBytes
        ? { kind: 'fault', error: new KorvMessageTooLargeError('message too large', { limit: limits.maxMessageBytes }), skip: 1 }
        : { kind: 'more' }
  const start = headerEnd(bytes)
  if (start === -1) return cut()
  let json: Buffer
  let used: number
  try {
    const out = inflateRawSync(bytes.subarray(start, Math.min(bytes.length, limits.maxMessageBytes)), {
      info: true,
      maxOutputLength: limits.maxJsonBytes,
    }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } }
    json = out.buffer
    used = out.engine.bytesWritten
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'Z_BUF_ERROR' || /unexpected end/.test((err as Error).message)) return cut()
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      return { kind: 'fault', error: new KorvMessageTooLargeError('message too large', { cause: err, limit: limits.maxJsonBytes }), skip: 1 }
    }
    return { kind: 'fault', error: new KorvBadMessageError('not a gzip member', { cause: err }), skip: 1 }
  }
  const end = start + used + 8
  if (end > bytes.length) return cut()
  if (end > limits.maxMessageBytes) {
    return { kind: 'fault', error: new KorvMessageTooLargeError('message too large', { size: end, limit: limits.maxMessageBytes }), skip: end }
  }
  const trailer = bytes.subarray(start + used, end)
  if (trailer.readUInt32LE(0) !== crc32(json) || trailer.readUInt32LE(4) !== (json.length >>> 0)) {
    return { kind: 'fault', error: new KorvBadMessageError('gzip member fails its CRC or length check'), skip: end }
  }
  return { kind: 'member', size: end, json }
}

/**
 * Decodes gzip members, each a JSON message, from one direction of a channel. After a fault it
 * goes on at the next gzip signature. Holds at most `maxMessageBytes` besides the chunk at hand.
 */
export function captureDecoder(limits: CaptureLimits): CaptureDecoder<unknown> {
  let pending = Buffer.alloc(0)
  let base = 0
  const run = (final: boolean): CaptureRecord<unknown>[] => {
    const records: CaptureRecord<unknown>[] = []
    let at = 0
    while (at < pending.length) {
      const result = step(pending.subarray(at), limits, final)
      if (result.kind === 'more') break
      const offset = base + at
      if (result.kind === 'fault') {
        records.push({ offset, error: result.error })
        // Resynchronise on the next gzip signature.
        const next = pending.indexOf(Buffer.from([ID1, ID2, DEFLATE]), at + result.skip)
        at = next === -1 ? Math.max(at + result.skip, final ? pending.length : pending.length - 2) : next
        continue
      }
      try {
        records.push({ offset, frame: decodeJson(result.json) })
      } catch (err) {
        records.push({ offset, error: err })
      }
      at += result.size
    }
    base += at
    pending = at === 0 ? pending : Buffer.from(pending.subarray(at))
    return records
  }
  return {
    push: (chunk) => {
      pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk])
      return run(false)
    },
    end: () => run(true),
  }
}
