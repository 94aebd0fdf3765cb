// Small pieces of a multipart body copied together before busboy sees them, so what it keeps follows the bytes, not the pieces.
import { Buffer } from 'node:buffer'

/** A piece at least this long, filling at least half its ArrayBuffer, goes on as it came. */
const KEPT_BYTES = 4096
/** Copied bytes go on once there are this many of them. */
const FLUSH_BYTES = 4096
/** Copied pieces share blocks of this size. */
const BLOCK_BYTES = 65_536
/**
 * Milliseconds after small pieces went on during which the next small ones wait to go on
 * together: a peer that sends a few bytes and then waits is served at once, and one that trickles
 * them gets at most one piece through per this many milliseconds.
 */
export const COALESCE_DELAY = 50

/**
 * busboy keeps a view of every piece it is given, in a field's parts and a file's queue, and a
 * 1-byte TCP segment arrives as a Buffer of its own that costs some 500 bytes. Pieces that are
 * not worth their memory are copied into shared blocks; the first after a quiet spell goes on at
 * once, and those that follow within COALESCE_DELAY ms go on together once there are FLUSH_BYTES
 * of them, when the body is complete, when a large piece follows, or when the delay is over.
 * Pieces worth keeping pass untouched, which is every piece of a fast upload.
 */
export class Coalescer {
  readonly #write: (piece: Buffer) => void
  #block: Buffer | undefined
  /** The copied bytes not yet handed on: `#block[#start, #fill)`. */
  #start = 0
  #fill = 0
  /** Armed while small pieces wait, or went on less than COALESCE_DELAY ms ago. */
  #timer: NodeJS.Timeout | undefined

  /** @param write receives each piece in order */
  constructor(write: (piece: Buffer) => void) {
    this.#write = write
  }

  /** Takes the next piece; `last` hands on everything at once. */
  push(chunk: Buffer, last: boolean): void {
    if (chunk.length >= KEPT_BYTES && chunk.length * 2 >= chunk.buffer.byteLength) {
      this.flush()
      this.#write(chunk)
      return
    }
    let offset = 0
    while (offset < chunk.length) {
      let block = this.#block
      if (block === undefined || this.#fill === block.length) {
        // What is still waiting in a full block goes first.
        this.flush()
        block = this.#block = Buffer.allocUnsafeSlow(BLOCK_BYTES)
        this.#start = this.#fill = 0
      }
      const n = Math.min(chunk.length - offset, block.length - this.#fill)
      chunk.copy(block, this.#fill, offset, offset + n)
      this.#fill += n
      offset += n
    }
    if (last || this.#timer === undefined || this.#fill - this.#start >= FLUSH_BYTES) {
      this.flush()
      // Small pieces that come soon after these wait for company.
      if (!last) this.#timer = setTimeout(this.#onTimer, COALESCE_DELAY)
    }
  }

  /** Hands on what is waiting. */
  flush(): void {
    this.#clearTimer()
    const block = this.#block
    if (block === undefined || this.#fill === this.#start) return
    const piece = block.subarray(this.#start, this.#fill)
    this.#start = this.#fill
    this.#write(piece)
  }

  /** Drops what is waiting: the body failed. */
  stop(): void {
    this.#clearTimer()
    this.#block = undefined
    this.#start = this.#fill = 0
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined
    if (this.#fill === this.#start) return
    this.flush()
    this.#timer = setTimeout(this.#onTimer, COALESCE_DELAY)
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
