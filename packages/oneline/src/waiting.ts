// What a queued connection does while it waits: its socket read, its bytes kept compactly for its turn.
import { Buffer } from 'node:buffer'
import type { Duplex } from 'node:stream'

/**
 * The bytes a waiting client sent, copied into one buffer that doubles as it fills. A socket
 * delivers each TCP segment as a Buffer of its own, and a Buffer costs about a hundred bytes
 * beyond its contents: kept as they came, a peer sending one byte per segment would pin some
 * hundred times what it sent. Copied, it pins at most twice.
 */
class HeldBytes {
  #buf: Buffer | undefined
  #length = 0

  get length(): number {
    return this.#length
  }

  push(chunk: Buffer): void {
    const needed = this.#length + chunk.length
    let buf = this.#buf
    if (buf === undefined || needed > buf.length) {
      // Outside Buffer's shared pool, so that a waiting client pins only its own bytes.
      const grown = Buffer.allocUnsafeSlow(Math.max(needed, 2 * (buf?.length ?? 0), MIN_CAPACITY))
      if (buf !== undefined) buf.copy(grown, 0, 0, this.#length)
      this.#buf = buf = grown
    }
    chunk.copy(buf, this.#length)
    this.#length = needed
  }

  /** The bytes held, and nothing held any more. */
  take(): Buffer {
    const held = this.#buf?.subarray(0, this.#length) ?? EMPTY
    this.clear()
    return held
  }

  clear(): void {
    this.#buf = undefined
    this.#length = 0
  }
}

// Enough for the commands a client sends before it knows it waits; larger ones grow from here.
const MIN_CAPACITY = 256
const EMPTY = Buffer.alloc(0)

/**
 * Watches a connection waiting in the queue. Its socket is read while it waits, because a paused
 * socket never reports the peer's FIN or reset: a client that went away would hold its place
 * until its turn, and a loop of connect-and-reset would keep the queue full. What it sends is
 * kept for its turn, at most about `holdBytes`; then reading pauses, and a FIN or reset after
 * that is seen only at its turn.
 */
export class Waiting {
  readonly #socket: Duplex
  readonly #holdBytes: number
  readonly #leave: () => void
  readonly #held = new HeldBytes()
  #left = false

  /** `leave` is called once, at once, when the client goes away while it waits. */
  constructor(socket: Duplex, holdBytes: number, leave: () => void) {
    this.#socket = socket
    this.#holdBytes = holdBytes
    this.#leave = leave
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('error', this.#onGone)
    socket.on('close', this.#onGone)
    socket.resume()
  }

  /** Stops watching the socket, paused, and hands over the bytes it sent: its turn has come. */
  take(): Buffer {
    const socket = this.#socket
    // Paused before the listener goes, so no byte is emitted to nobody.
    socket.pause()
    socket.off('data', this.#onData)
    socket.off('end', this.#onEnd)
    socket.off('error', this.#onGone)
    socket.off('close', this.#onGone)
    return this.#held.take()
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#held.push(chunk)
    if (this.#held.length >= this.#holdBytes) this.#socket.pause()
  }

  /**
   * A FIN while waiting leaves the queue, even after complete commands: a reset that follows
   * data often reads as data and then EOF, so keeping such clients would let a loop of
   * send-and-reset fill the queue again.
   */
  readonly #onEnd = (): void => {
    this.#onGone()
    this.#socket.destroy()
  }

  readonly #onGone = (): void => {
    if (this.#left) return
    this.#left = true
    this.#held.clear()
    this.#leave()
  }
}
