// What a client's `close()` waits for: calls in flight, then binary results still being read.

/** A binary result as a client's `close()` sees it. */
export interface OpenBinary {
  /** Its body has been handed to the caller. */
  readonly taken: boolean
  /** Settles once the body is read, cancelled or failed. */
  readonly finished: Promise<void>
  cancel(): Promise<void>
}

/** What a client's `close()` waits for: the calls in flight, then the binary results still open. */
export class InFlight {
  #calls = 0
  #idle: (() => void) | undefined
  readonly #binaries = new Set<OpenBinary>()

  callStarted(): void {
    this.#calls++
  }

  callEnded(): void {
    if (--this.#calls === 0) this.#idle?.()
  }

  /** Keeps `binary` until its body is finished, then calls `onFinished`. */
  binaryOpened(binary: OpenBinary, onFinished: () => void): void {
    this.#binaries.add(binary)
    void binary.finished.then(() => {
      onFinished()
      this.#binaries.delete(binary)
    })
  }

  /** Waits for every call, then for every binary body being read; one nobody started would wait forever, so it is cancelled. */
  async drained(): Promise<void> {
    if (this.#calls > 0) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve
      })
    }
    await Promise.all([...this.#binaries].map((binary) => (binary.taken ? binary.finished : binary.cancel())))
  }
}
