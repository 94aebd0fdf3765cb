// duplexPair: two in-memory Duplex ends joined back to back, half-open, with backpressure.
import type { Buffer } from 'node:buffer'
import { Duplex } from 'node:stream'
import { checkLimit } from '../options.ts'

/** Options of `duplexPair`. */
export interface DuplexPairInit {
  /** High-water mark of each side's readable and writable buffers. @default 16_384 */
  highWaterMark?: number | undefined
}

type Callback = (err?: Error | null) => void

/**
 * Two connected in-memory Duplex ends, half-open like sockets made with `allowHalfOpen: true`.
 * A write completes only when the other end's reader takes it, so `'drain'` behaves as on a
 * socket; `_writev` receives the corked batches, so tests can count writes; destroying one end
 * errors the other with `ECONNRESET`, unless both directions had finished.
 */
export function duplexPair(init?: DuplexPairInit): [Duplex, Duplex] {
  const highWaterMark = checkLimit('highWaterMark', init?.highWaterMark, 16_384)
  const a = new PairEnd(highWaterMark)
  const b = new PairEnd(highWaterMark)
  a.peer = b
  b.peer = a
  return [a, b]
}

class PairEnd extends Duplex {
  peer: PairEnd | undefined
  #pending: Callback | undefined

  constructor(highWaterMark: number) {
    super({ allowHalfOpen: true, readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark })
  }

  override _read(): void {
    const peer = this.peer
    if (peer !== undefined) peer.#release()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    this.#deliver([chunk], callback)
  }

  override _writev(chunks: { chunk: Buffer }[], callback: Callback): void {
    this.#deliver(
      chunks.map((c) => c.chunk),
      callback,
    )
  }

  override _final(callback: Callback): void {
    const peer = this.peer
    if (peer !== undefined && !peer.destroyed) peer.push(null)
    callback()
  }

  override _destroy(err: Error | null, callback: Callback): void {
    const peer = this.peer
    const clean = err === null && this.writableFinished && this.readableEnded
    if (peer !== undefined && !peer.destroyed && !clean) {
      peer.destroy(Object.assign(new Error('the other end was destroyed'), { code: 'ECONNRESET' }))
    }
    this.#release(err ?? undefined)
    callback(err)
  }

  #deliver(chunks: Buffer[], callback: Callback): void {
    const peer = this.peer
    if (peer === undefined || peer.destroyed) {
      callback(Object.assign(new Error('the other end is closed'), { code: 'EPIPE' }))
      return
    }
    let below = true
    for (const chunk of chunks) below = peer.push(chunk)
    // Like a full socket: the write is done only once the reader has room again.
    if (below) callback()
    else this.#pending = callback
  }

  #release(err?: Error): void {
    const pending = this.#pending
    this.#pending = undefined
    pending?.(err)
  }
}
