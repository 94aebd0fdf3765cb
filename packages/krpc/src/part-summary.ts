// The parts of a multipart body as `decode` prints them: name, file name, type, size and SHA-256 each, and the call field's text.
import { Buffer } from 'node:buffer'
import { FileDigest } from '@proto/framing/cli'
import { rewriteTupleTypes } from './part-type.ts'

/** Longest block of part headers read, as busboy's limit. */
const MAX_HEAD_BYTES = 16_384
const CRLF2 = Buffer.from('\r\n\r\n')

/** One part of a multipart body, summarised. */
export interface PartSummary {
  /** The part's field name (`''` without one). */
  name: string
  /** The part's file name, as sent, when it has one. */
  filename?: string
  /** Its media type: the type inside the original client's tuple; `text/plain` when it gives none. */
  type: string
  /** Bytes of its contents. */
  size: number
  /** SHA-256 of its contents, in hex. */
  sha256: string
}

interface Part {
  readonly name: string
  readonly filename: string | undefined
  readonly type: string
  readonly digest: FileDigest
  /** The call field's bytes while it may be the call, at most `fieldSize` of them. */
  text: Buffer[] | undefined
  textBytes: number
}

/** A Content-Disposition parameter: quoted (with `\` escapes) or a token. */
function parameter(disposition: string, name: string): string | undefined {
  const match = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i').exec(disposition)
  if (match === null) return undefined
  return match[1]?.replace(/\\(.)/g, '$1') ?? match[2]
}

/**
 * Reads a multipart body as it streams, without keeping it: each part's headers, then its
 * contents digested up to the next delimiter. The first `json` (or `JSON`) text field is kept,
 * up to `fieldSize` bytes, as the call. Parts whose headers never end, or pass busboy's 16 KiB,
 * end the summary there (`problem` says why); the digest of the whole body goes on elsewhere.
 */
export class PartSummaries {
  readonly #delimiter: Buffer
  readonly #fieldSize: number
  readonly #parts: PartSummary[] = []
  #state: 'preamble' | 'after' | 'head' | 'data' | 'done' = 'preamble'
  /** How many delimiter bytes the last piece ended with: held back, they may not be contents. */
  #held = 2
  /** After a delimiter: its next bytes so far (`\r\n` opens headers, `--` ends the body). */
  #after = ''
  #head: Buffer[] = []
  #headBytes = 0
  #part: Part | undefined
  #call: string | undefined
  /** Why the summary stopped early, when it did. */
  problem: string | undefined

  /**
   * @param boundary the body's boundary
   * @param fieldSize the most bytes of the call field kept
   */
  constructor(boundary: string, fieldSize: number) {
    this.#delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1')
    this.#fieldSize = fieldSize
  }

  /** Takes the next piece of the body. */
  push(piece: Uint8Array): void {
    const chunk = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength)
    let i = 0
    while (i < chunk.length && this.#state !== 'done') {
      if (this.#state === 'after') {
        this.#after += String.fromCharCode(chunk[i++] ?? 0)
        if (this.#after.length < 2) continue
        // busboy ignores the epilogue after `--`, and anything else is not a part.
        this.#state = this.#after === '\r\n' ? 'head' : this.#after === '--' ? 'done' : 'preamble'
        this.#after = ''
        continue
      }
      if (this.#state === 'head') {
        i = this.#takeHead(chunk, i)
        continue
      }
      i = this.#takeContents(chunk, i)
    }
  }

  /** The parts summarised, the last one closed only if its delimiter came. */
  get parts(): readonly PartSummary[] {
    return this.#parts
  }

  /** The call field's text, when there was one within `fieldSize`. */
  get call(): string | undefined {
    return this.#call
  }

  /** Contents from `i` up to the next delimiter; the index after what was taken. */
  #takeContents(chunk: Buffer, i: number): number {
    const delimiter = this.#delimiter
    if (this.#held > 0) {
      // The last piece ended with the start of a delimiter: this one finishes it, or those bytes were contents.
      const need = Math.min(delimiter.length - this.#held, chunk.length - i)
      if (chunk.subarray(i, i + need).equals(delimiter.subarray(this.#held, this.#held + need))) {
        this.#held += need
        if (this.#held < delimiter.length) return i + need
        this.#held = 0
        this.#delimiterFound()
        return i + need
      }
      this.#contents(delimiter.subarray(0, this.#held))
      this.#held = 0
    }
    const at = chunk.indexOf(delimiter, i)
    if (at !== -1) {
      this.#contents(chunk.subarray(i, at))
      this.#delimiterFound()
      return at + delimiter.length
    }
    // No byte of a delimiter but its first is a CR, so only the last CR can start one.
    let end = chunk.length
    const cr = chunk.lastIndexOf(0x0d)
    if (cr >= Math.max(i, chunk.length - delimiter.length + 1) && chunk.subarray(cr).equals(delimiter.subarray(0, chunk.length - cr))) {
      end = cr
      this.#held = chunk.length - cr
    }
    this.#contents(chunk.subarray(i, end))
    return chunk.length
  }

  #contents(bytes: Buffer): void {
    const part = this.#part
    if (part === undefined || bytes.length === 0) return
    part.digest.update(bytes)
    if (part.text !== undefined) {
      part.textBytes += bytes.length
      if (part.textBytes > this.#fieldSize) part.text = undefined
      else part.text.push(Buffer.from(bytes))
    }
  }

  #delimiterFound(): void {
    const part = this.#part
    if (part !== undefined) {
      const { size, sha256 } = part.digest.summary()
      this.#parts.push({ name: part.name, ...(part.filename === undefined ? {} : { filename: part.filename }), type: part.type, size, sha256 })
      if (part.text !== undefined && this.#call === undefined) this.#call = Buffer.concat(part.text).toString('utf8')
      this.#part = undefined
    }
    this.#state = 'after'
  }

  /** Header bytes from `i` until their blank line; the index after what was taken. */
  #takeHead(chunk: Buffer, i: number): number {
    const before = this.#headBytes
    const n = Math.min(chunk.length - i, MAX_HEAD_BYTES + CRLF2.length - before)
    this.#head.push(Buffer.from(chunk.subarray(i, i + n)))
    this.#headBytes += n
    const all = Buffer.concat(this.#head)
    this.#head = [all]
    const blank = all.indexOf(CRLF2, Math.max(0, before - 3))
    if (blank === -1) {
      if (this.#headBytes === MAX_HEAD_BYTES + CRLF2.length) this.#stop(`part headers longer than ${MAX_HEAD_BYTES} bytes`)
      return i + n
    }
    this.#head = []
    this.#headBytes = 0
    this.#startPart(rewriteTupleTypes(all.subarray(0, blank + 2)).toString('latin1'))
    this.#state = 'data'
    this.#held = 0
    return i + blank + CRLF2.length - before
  }

  #startPart(head: string): void {
    const headers = new Map<string, string>()
    for (const line of head.split('\r\n')) {
      const colon = line.indexOf(':')
      if (colon <= 0) continue
      const name = line.slice(0, colon).toLowerCase()
      if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim())
    }
    const disposition = headers.get('content-disposition') ?? ''
    const filename = parameter(disposition, 'filename')
    const type = /^[^;\s]+/.exec(headers.get('content-type') ?? '')?.[0]?.toLowerCase() ?? 'text/plain'
    const name = parameter(disposition, 'name') ?? ''
    const text = this.#call === undefined && filename === undefined && type !== 'application/octet-stream' && (name === 'json' || name === 'JSON')
    this.#part = { name, filename, type, digest: new FileDigest(name), text: text ? [] : undefined, textBytes: 0 }
  }

  #stop(problem: string): void {
    this.problem = problem
    this.#state = 'done'
    this.#part = undefined
  }
}
