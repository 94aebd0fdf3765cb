// The original client's part types, written as Python tuples, rewritten to the type inside before busboy reads the part headers.
import { Buffer } from 'node:buffer'

/** busboy refuses a part's headers past this many bytes; a block this long is passed on as it is. */
const MAX_HEAD_BYTES = 16_384
const CRLF2 = Buffer.from('\r\n\r\n')
/**
 * The repr of `mimetypes.guess_type()`'s `(type, encoding)` pair, which the original client
 * writes as the part's type. A `None` type is a name the client could not guess, for which it
 * meant `application/octet-stream` (its `or` never fires: a tuple is always truthy).
 */
const TUPLE = /^(content-type:[ \t]*)\((?:'([^'\\]*)'|None), (?:'[^'\\]*'|None)\)[ \t]*$/i

/**
 * The boundary of a `multipart/form-data` content type, as busboy reads it (a token or a quoted
 * string); undefined without one.
 */
export function multipartBoundary(contentType: string): string | undefined {
  const match = /;[ \t]*boundary[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(contentType)
  if (match === null) return undefined
  return match[1]?.replace(/\\(.)/g, '$1') ?? match[2]
}

/** A block of part headers with every tuple type written as the type inside; the block itself when it has none. */
export function rewriteTupleTypes(block: Buffer): Buffer {
  // Only a block with a "(" can hold a tuple.
  if (!block.includes(0x28)) return block
  const lines = block.toString('latin1').split('\r\n')
  let changed = false
  const out = lines.map((line) => {
    const match = TUPLE.exec(line)
    if (match === null) return line
    changed = true
    return `${match[1] ?? ''}${match[2] ?? 'application/octet-stream'}`
  })
  return changed ? Buffer.from(out.join('\r\n'), 'latin1') : block
}

/**
 * A multipart body on its way to busboy, with the original client's tuple part types
 * (`Content-Type: ('application/octet-stream', None)`) rewritten to the type inside: busboy
 * cannot parse a tuple and would report `text/plain`, and it does not expose the raw header. The
 * body is scanned for delimiters as busboy scans it; the bytes of a part's headers are held until
 * their blank line (busboy can do nothing with part of them either), everything else passes at
 * once, untouched, as views of the pieces it came in.
 */
export class PartTypeRewriter {
  readonly #write: (piece: Buffer) => void
  /** `\r\n--boundary`: the delimiter busboy looks for. */
  readonly #delimiter: Buffer
  /** How many bytes of the delimiter the bytes passed so far end with; busboy starts as after a CRLF. */
  #matched = 2
  /** After a delimiter: how many bytes of the CRLF that opens a part's headers have come. */
  #after = -1
  /** The headers of the current part while they arrive, `#head[0, #headBytes)`. */
  #head: Buffer | undefined
  #headBytes = 0

  /**
   * @param boundary the body's boundary
   * @param write receives the body, in order
   */
  constructor(boundary: string, write: (piece: Buffer) => void) {
    this.#delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1')
    this.#write = write
  }

  /** Takes the next piece of the body. */
  push(piece: Buffer): void {
    let from = 0
    let i = 0
    while (i < piece.length) {
      if (this.#head !== undefined) {
        const taken = this.#takeHead(piece, i)
        i += taken
        from = i
        continue
      }
      if (this.#after >= 0) {
        // busboy reads headers only after `\r\n`; anything else is part data again.
        if (piece[i] === (this.#after === 0 ? 0x0d : 0x0a)) {
          i++
          if (++this.#after === 2) {
            this.#after = -1
            if (i > from) this.#write(piece.subarray(from, i))
            from = i
            this.#head = Buffer.allocUnsafe(256)
            this.#headBytes = 0
          }
        } else this.#after = -1
        continue
      }
      const end = this.#findDelimiter(piece, i)
      if (end === -1) break
      i = end
      this.#after = 0
    }
    if (this.#head === undefined && from < piece.length) this.#write(piece.subarray(from))
  }

  /** Passes on headers that never ended: busboy reports the body as cut short. */
  end(): void {
    const head = this.#head
    this.#head = undefined
    if (head !== undefined && this.#headBytes > 0) this.#write(head.subarray(0, this.#headBytes))
  }

  /**
   * Looks for the end of a delimiter from `i`, continuing a match the last piece ended in; the
   * index after it, or -1 with `#matched` set for the next piece. No byte of a delimiter but its
   * first is a CR (a boundary holds no CR), so a broken match starts over at the byte that broke it.
   */
  #findDelimiter(piece: Buffer, i: number): number {
    const delimiter = this.#delimiter
    while (this.#matched > 0 && i < piece.length) {
      if (piece[i] !== delimiter[this.#matched]) {
        this.#matched = 0
        break
      }
      i++
      if (++this.#matched === delimiter.length) {
        this.#matched = 0
        return i
      }
    }
    if (i >= piece.length) return -1
    const at = piece.indexOf(delimiter, i)
    if (at !== -1) return at + delimiter.length
    // Whether the piece ends with the start of a delimiter.
    const tail = piece.lastIndexOf(0x0d)
    if (tail >= Math.max(i, piece.length - delimiter.length + 1)
      && piece.subarray(tail).equals(delimiter.subarray(0, piece.length - tail))) {
      this.#matched = piece.length - tail
    }
    return -1
  }

  /** Copies header bytes from `i`; how many were taken. Hands the block on at its blank line. */
  #takeHead(piece: Buffer, i: number): number {
    let head = this.#head as Buffer
    const room = MAX_HEAD_BYTES + CRLF2.length - this.#headBytes
    const n = Math.min(piece.length - i, room)
    if (this.#headBytes + n > head.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(head.length * 2, this.#headBytes + n), MAX_HEAD_BYTES + CRLF2.length))
      head.copy(grown, 0, 0, this.#headBytes)
      head = this.#head = grown
    }
    const before = this.#headBytes
    piece.copy(head, before, i, i + n)
    this.#headBytes += n
    const blank = head.subarray(0, this.#headBytes).indexOf(CRLF2, Math.max(0, before - 3))
    if (blank !== -1) {
      const used = blank + CRLF2.length - before
      this.#head = undefined
      this.#write(rewriteTupleTypes(head.subarray(0, blank + CRLF2.length)))
      return used
    }
    if (this.#headBytes === MAX_HEAD_BYTES + CRLF2.length) {
      // busboy has refused these headers by now; the bytes go on as they came.
      this.#head = undefined
      this.#write(head.subarray(0, this.#headBytes))
    }
    return n
  }
}
