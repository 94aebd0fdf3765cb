// The decoder contracts (FrameDecoder, AsyncFrameDecoder), decodeFrames over an async source, and the abort helpers reads share.
import type { ProtoError } from './errors.ts'

/** An incremental decoder: bytes in, whole frames out. */
export interface FrameDecoder<T = Buffer> {
  /**
   * Frames completed by this chunk, in order. A fault found after some frames is kept in
   * `error` and thrown by the next call; with no frames before it, it is thrown at once.
   */
  push(chunk: Uint8Array): T[]
  /** The input is finished: the last frames, or the fault of an unfinished one. */
  end(): T[]
  /** Bytes of the unfinished frame. */
  readonly buffered: number
  /** The fault that stopped this decoder; it throws it from then on. */
  readonly error: ProtoError | undefined
}

/** A `FrameDecoder` whose work is asynchronous (gzip). */
export interface AsyncFrameDecoder<T = Buffer> {
  /** Frames completed by this chunk, in order; calls are not overlapped. */
  push(chunk: Uint8Array): Promise<T[]>
  /** The input is finished: the last frames, or the fault of an unfinished one. */
  end(): Promise<T[]>
  /** Bytes of the unfinished frame. */
  readonly buffered: number
  /** The fault that stopped this decoder; it rejects with it from then on. */
  readonly error: ProtoError | undefined
}

/** Options of `decodeFrames`. */
export interface DecodeFramesOptions {
  /** Aborting rejects the iteration with `signal.reason`. @default undefined */
  signal?: AbortSignal | undefined
}

/**
 * The frames of `source`, decoded by `decoder`. No chunk is read while the consumer holds a
 * frame, and `end()` is called when the source ends.
 */
export async function* decodeFrames<T>(
  source: AsyncIterable<Uint8Array>,
  decoder: FrameDecoder<T> | AsyncFrameDecoder<T>,
  opts?: DecodeFramesOptions,
): AsyncGenerator<T> {
  const signal = opts?.signal
  signal?.throwIfAborted()
  const iterator = source[Symbol.asyncIterator]()
  let done = false
  // While a pull is unanswered (left behind by an abort), `return()` would queue behind it.
  let pulling = false
  try {
    for (;;) {
      pulling = true
      const next = signal === undefined ? await iterator.next() : await raceAbort(iterator.next(), signal)
      pulling = false
      if (next.done === true) {
        done = true
        break
      }
      const pushed = decoder.push(next.value)
      const frames = Array.isArray(pushed) ? pushed : await pushed
      for (const frame of frames) yield frame
      // A fault kept behind the frames before it surfaces now, not when the next chunk comes.
      if (decoder.error !== undefined) throw decoder.error
      signal?.throwIfAborted()
    }
    const ended = decoder.end()
    const frames = Array.isArray(ended) ? ended : await ended
    for (const frame of frames) yield frame
  } finally {
    if (!done) {
      if (pulling) iterator.return?.().catch(() => undefined)
      else await iterator.return?.()
    }
  }
}

/** `promise`, or `signal.reason` as soon as the signal aborts. */
export function raceAbort<V>(promise: Promise<V>, signal: AbortSignal): Promise<V> {
  if (signal.aborted) return Promise.reject(signal.reason as Error)
  return new Promise<V>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason as Error)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passed through as it came
        reject(err)
      },
    )
  })
}

/** A promise rejected with `reason` as it is: abort reasons and caught values may be any value. */
export function rejectWith(reason: unknown): Promise<never> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- see above
  return Promise.reject(reason)
}
