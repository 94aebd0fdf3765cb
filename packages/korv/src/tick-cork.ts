// Corking a socket for one tick, so the messages written together leave in one system call.
/** What a `TickCork` needs of a socket. */
export interface Corkable {
  cork(): unknown
  uncork(): unknown
}

/**
 * Corks a socket from its first write in a tick until `process.nextTick` runs: messages written
 * together leave in one system call, each still its own SSH packet, and a lone message waits for
 * no I/O.
 */
export class TickCork {
  readonly #socket: Corkable
  #held = false

  constructor(socket: Corkable) {
    this.#socket = socket
  }

  hold(): void {
    if (this.#held) return
    this.#held = true
    this.#socket.cork()
    process.nextTick(() => {
      this.#held = false
      this.#socket.uncork()
    })
  }
}
