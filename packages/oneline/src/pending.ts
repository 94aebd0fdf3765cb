// A client's request waiting for its lines, and the promise helper the client's waits share.
import type { CallGuard } from '@proto/framing'

const ignore = (): void => {}

/** A promise and the functions that settle it. */
export interface Deferred<T> {
  readonly promise: Promise<T>
  readonly resolve: (value: T) => void
  readonly reject: (err: unknown) => void
}

/** A promise settled from outside: `Promise.withResolvers`, which arrived only in Node 22. */
export function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = ignore
  let reject: (err: unknown) => void = ignore
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * A request waiting for its lines, in the order the server will answer. Given up (by its
 * deadline or signal), it keeps its place: it still counts its lines, and drops them.
 */
export class PendingRequest {
  /** Lines still to come. */
  remaining: number
  /** Answered, failed or given up. */
  done = false
  /** Its deadline and signal; released once it settles. */
  guard: CallGuard | undefined
  /** Called once it settles, with the error it failed with: diagnostics, when someone listens. */
  report: ((error: unknown) => void) | undefined
  readonly promise: Promise<string[]>
  // Made at the first line, one element long: an empty literal reserves room for 17 on its first push.
  #lines: string[] | undefined
  #resolve: (lines: string[]) => void = ignore
  #reject: (err: unknown) => void = ignore

  constructor(lines: number) {
    this.remaining = lines
    this.promise = new Promise<string[]>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
  }

  add(line: string): void {
    if (this.#lines === undefined) this.#lines = [line]
    else this.#lines.push(line)
  }

  resolve(): void {
    if (!this.#settle(undefined)) return
    this.#resolve(this.#lines ?? [])
  }

  /** Fails it; a bound function, so that it can be a guard's callback as it is. */
  readonly reject = (err: unknown): void => {
    if (!this.#settle(err)) return
    this.#lines = undefined
    this.#reject(err)
  }

  #settle(error: unknown): boolean {
    if (this.done) return false
    this.done = true
    this.guard?.release()
    this.report?.(error)
    return true
  }
}
