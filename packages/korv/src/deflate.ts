import { Buffer } from 'node:buffer'
import { constants, deflateRawSync } from 'node:zlib'

/**
 * `zlib.deflateRawSync(input)`, byte for byte, as pieces of output. The last piece may be a view
 * of a buffer that the next call overwrites: copy it out before deflating again.
 */
export type RawDeflate = (input: Uint8Array) => Buffer[]

// The synchronous entry point of a node:zlib stream's native handle. Node has no public way to
// deflate synchronously on a stream that outlives one call, so this is internal, checked before
// use and given up at the first surprise (see createRawDeflate).
interface NativeDeflateHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inputOffset: number,
    inputLength: number,
    output: Uint8Array,
    outputOffset: number,
    outputLength: number,
  ): void
}

interface DeflateEngine {
  readonly _handle: NativeDeflateHandle
  // [output bytes left, input bytes left] after each writeSync.
  readonly _writeState: Uint32Array
  readonly destroyed: boolean
  reset(): void
  on(event: 'error', listener: (err: Error) => void): unknown
}

function isDeflateEngine(engine: unknown): engine is DeflateEngine {
  if (typeof engine !== 'object' || engine === null) return false
  const { _handle: handle, _writeState: state, reset, on } = engine as Partial<Record<keyof DeflateEngine, unknown>>
  return (
    typeof handle === 'object' && handle !== null && typeof (handle as Partial<NativeDeflateHandle>).writeSync === 'function' &&
    state instanceof Uint32Array && state.length >= 2 &&
    typeof reset === 'function' && typeof on === 'function'
  )
}

const OUTPUT_CHUNK_BYTES = 64 * 1024
// The sliding window of a default raw deflate stream (windowBits 15): two 32 KiB halves. A stream
// never writes input bytes anywhere else.
const WINDOW_BYTES = 2 * 32 * 1024

/**
 * One deflate stream kept across messages. Creating and freeing a zlib context costs far more
 * than compressing a small message (a stream object, and a few hundred KiB allocated and zeroed
 * each time). `deflateReset` alone is not enough for identical output: it leaves the last input
 * in the window, and zlib's hashing reads bytes just past the end of the current input, which a
 * fresh context holds as zeros. So before an input shorter than what the window may still hold,
 * the window is overwritten with zeros and the stream reset again; a longer input overwrites it
 * all by itself before zlib reads any of it.
 */
class ReusedDeflater {
  readonly #engine: DeflateEngine
  readonly #handle: NativeDeflateHandle
  readonly #state: Uint32Array
  #output = Buffer.allocUnsafe(OUTPUT_CHUNK_BYTES)
  readonly #zeros = Buffer.alloc(WINDOW_BYTES)
  // Where output of the zeros goes, if any: only their effect on the window counts.
  readonly #discard = Buffer.allocUnsafe(1024)
  // The window bytes from here on are zeros, as in a fresh context.
  #dirty = 0

  constructor(engine: DeflateEngine) {
    this.#engine = engine
    this.#handle = engine._handle
    this.#state = engine._writeState
    // A native zlib error destroys the stream and emits 'error' on the next tick; deflate() sees
    // the stream destroyed and reports the failure itself.
    engine.on('error', () => {})
  }

  /** The deflated pieces, or undefined once the stream failed (it is then unusable). */
  deflate(input: Uint8Array): Buffer[] | undefined {
    if (input.length < this.#dirty && !this.#overwriteWindow(this.#dirty)) return undefined
    const pieces = this.#finish(input)
    this.#dirty = Math.min(input.length, WINDOW_BYTES)
    return pieces
  }

  /** Deflates `input` to the end of a raw stream and resets the stream; undefined if it failed. */
  #finish(input: Uint8Array): Buffer[] | undefined {
    const pieces: Buffer[] = []
    let inputOffset = 0
    for (;;) {
      const output = this.#output
      const inputLeft = input.length - inputOffset
      this.#handle.writeSync(constants.Z_FINISH, input, inputOffset, inputLeft, output, 0, output.length)
      if (this.#engine.destroyed) return undefined
      inputOffset += inputLeft - (this.#state[1] ?? 0)
      const outputLeft = this.#state[0] ?? 0
      if (outputLeft > 0) {
        pieces.push(output.subarray(0, output.length - outputLeft))
        break
      }
      // The chunk is full and the stream goes on: the chunk becomes a piece of its own.
      pieces.push(output)
      this.#output = Buffer.allocUnsafe(OUTPUT_CHUNK_BYTES)
    }
    this.#engine.reset()
    return pieces
  }

  /**
   * Writes `length` zeros into the window and resets the stream; false if it failed. Without a
   * flush, zlib copies input into the window and stops short of building a block.
   */
  #overwriteWindow(length: number): boolean {
    let inputOffset = 0
    while (inputOffset < length) {
      const inputLeft = length - inputOffset
      this.#handle.writeSync(constants.Z_NO_FLUSH, this.#zeros, inputOffset, inputLeft, this.#discard, 0, this.#discard.length)
      if (this.#engine.destroyed) return false
      inputOffset += inputLeft - (this.#state[1] ?? 0)
    }
    this.#engine.reset()
    return true
  }
}

/**
 * A `RawDeflate` on `engine` (a `zlib.createDeflateRaw()` with default options). When the engine
 * lacks the internals it needs, or fails, it falls back to `zlib.deflateRawSync` for good.
 */
export function createRawDeflate(engine: unknown): RawDeflate {
  let reused = isDeflateEngine(engine) ? new ReusedDeflater(engine) : undefined
  return (input) => {
    const pieces = reused?.deflate(input)
    if (pieces !== undefined) return pieces
    reused = undefined
    return [deflateRawSync(input)]
  }
}
