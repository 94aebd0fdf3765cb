// What a queued connection does while it waits: its socket read, its bytes kept for its turn.
import { Buffer } from 'node:buffer'
import type { Duplex } from 'node:stream'

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
  #chunks: Buffer[] = []
  #held = 0
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
    const chunks = this.#chunks
    this.#chunks = []
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.#held)
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk)
    this.#held += chunk.length
    if (this.#held >= this.#holdBytes) this.#socket.pause()
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
    this.#chunks = []
    this.#leave()
  }
}
