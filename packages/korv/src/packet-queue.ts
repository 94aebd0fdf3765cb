// A channel's items processed in order, one at a time, the channel paused while they wait.
/** What a queue needs of a channel: ssh2's Readable flow control. */
export interface Pausable {
  pause(): unknown
  resume(): unknown
}

/**
 * Hands a channel's items (its 'data' packets, and whatever else must keep their order) to
 * `process` one at a time. Decoding is asynchronous: an item that arrives while another is in
 * work waits here and pauses the channel, so ssh2 keeps the rest within the channel window. An
 * item that finds the queue idle is processed at once, without pausing and resuming the channel.
 */
export class PacketQueue<T extends object | null> {
  readonly #channel: Pausable
  readonly #process: (item: T) => Promise<void>
  readonly #mayResume: () => boolean
  readonly #waiting: T[] = []
  #busy = false
  #paused = false

  /** `process` must not reject. `mayResume` says whether reading should go on once the queue is empty. */
  constructor(channel: Pausable, process: (item: T) => Promise<void>, mayResume: () => boolean) {
    this.#channel = channel
    this.#process = process
    this.#mayResume = mayResume
  }

  push(item: T): void {
    if (this.#busy) {
      this.#waiting.push(item)
      if (!this.#paused) {
        this.#paused = true
        this.#channel.pause()
      }
      return
    }
    void this.#run(item)
  }

  async #run(first: T): Promise<void> {
    this.#busy = true
    for (let item: T | undefined = first; item !== undefined; item = this.#waiting.shift()) {
      await this.#process(item)
    }
    this.#busy = false
    if (this.#paused && this.#mayResume()) {
      this.#paused = false
      this.#channel.resume()
    }
  }
}
