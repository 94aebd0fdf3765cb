// The deadline and signal of one client call.

/**
 * What stops a call: the caller's signal, or the timeout until `stopTimer` (a binary reply's
 * headers). A plain callback rather than an AbortController per call: small calls are the hot
 * path, and every controller and abort costs an object graph and a DOMException.
 */
export class CallGuard {
  #stopped = false
  #reason: unknown
  #onStop: ((reason: unknown) => void) | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #signal: AbortSignal | undefined
  #onAbort: (() => void) | undefined

  constructor(signal: AbortSignal | undefined, timeout: number) {
    this.#signal = signal
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#stop(signal.reason)
        return
      }
      this.#onAbort = () => this.#stop(signal.reason)
      signal.addEventListener('abort', this.#onAbort, { once: true })
    }
    this.#timer = setTimeout(timedOut, timeout, this)
  }

  /** @internal the timer's end */
  timedOut(): void {
    this.#stop(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
  }

  #stop(reason: unknown): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#reason = reason
    this.dispose()
    this.#onStop?.(reason)
  }

  get stopped(): boolean {
    return this.#stopped
  }

  get reason(): unknown {
    return this.#reason
  }

  /** `stop` is called once, at once if the call is already stopped. */
  onStop(stop: (reason: unknown) => void): void {
    this.#onStop = stop
    if (this.#stopped) stop(this.#reason)
  }

  stopTimer(): void {
    clearTimeout(this.#timer)
  }

  dispose(): void {
    clearTimeout(this.#timer)
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort)
  }
}

// One function for every guard's timer, so a call allocates no closure for it.
function timedOut(guard: CallGuard): void {
  guard.timedOut()
}
