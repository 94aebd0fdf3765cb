// Raw TCP on 127.0.0.1 for the cases that put exact bytes on the wire: a peer that records what
// it receives and sees its peer's FIN, and a listener that stands in for a server.
import { once } from 'node:events'
import net from 'node:net'
import { defer } from '@proto/vitest-config/cleanup'
import { DRIVER_WAIT } from './driver.ts'

/**
 * How long a negative control waits for an original that never answers, where no event can end
 * the wait (its connection dropped, its thread gone, a later request of the same connection
 * answered). Healthy originals answer on loopback within milliseconds; this stays under the 5 s
 * the suite allows. Used by three cases: KARP's handler result that is not text, oneline's FIN
 * without disconnect, and TEJ's send lock.
 */
export const NEVER_ANSWERED_WITHIN = 2_000

/** Everything a socket receives, and whether its peer has ended or reset it. */
export class RawPeer {
  readonly socket: net.Socket
  /** Resolves on the peer's FIN or when the socket closes, whichever comes first. */
  readonly ended: Promise<void>
  /** Resolves when the socket has closed; `error` says why, if it failed. */
  readonly closed: Promise<void>
  error: Error | undefined
  readonly #chunks: Buffer[] = []
  readonly #waiters: { test: (all: Buffer) => boolean; resolve: (all: Buffer) => void }[] = []

  constructor(socket: net.Socket) {
    this.socket = socket
    // A reset is an outcome the test looks at, not a crash.
    socket.on('error', (err) => {
      this.error = err
    })
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk)
      const all = this.bytes()
      for (const waiter of [...this.#waiters]) {
        if (waiter.test(all)) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
          waiter.resolve(all)
        }
      }
    })
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()))
    this.ended = Promise.race([new Promise<void>((resolve) => socket.once('end', () => resolve())), this.closed])
    defer(() => {
      socket.destroy()
    })
  }

  bytes(): Buffer {
    return Buffer.concat(this.#chunks)
  }

  text(): string {
    return this.bytes().toString('utf8')
  }

  /** Resolves with everything received once `test` holds; rejects if the socket ends first. */
  until(test: (all: Buffer) => boolean, timeout = DRIVER_WAIT): Promise<Buffer> {
    const all = this.bytes()
    if (test(all)) return Promise.resolve(all)
    let timer: NodeJS.Timeout | undefined
    return Promise.race([
      new Promise<Buffer>((resolve) => this.#waiters.push({ test, resolve })),
      this.closed.then(() => {
        // The last data event comes before 'close'.
        const last = this.bytes()
        if (test(last)) return last
        throw new Error(`the connection closed before the awaited bytes; it got ${JSON.stringify(this.text().slice(0, 500))}`)
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no awaited bytes within ${timeout} ms; got ${JSON.stringify(this.text().slice(0, 500))}`)), timeout)
      }),
    ]).finally(() => clearTimeout(timer))
  }

  /** Resolves once the text received holds `text`. */
  untilText(text: string, timeout?: number): Promise<Buffer> {
    return this.until((all) => all.includes(text), timeout)
  }

  /** Writes and resolves once the bytes are with the kernel. */
  write(bytes: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err == null ? resolve() : reject(err))))
  }

  /** Sends an RST instead of a FIN. */
  reset(): void {
    this.socket.resetAndDestroy()
  }
}

/** A raw connection to 127.0.0.1:`port`, resolved once connected. */
export async function connectRaw(port: number): Promise<RawPeer> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true })
  const peer = new RawPeer(socket)
  await Promise.race([
    once(socket, 'connect'),
    peer.closed.then(() => {
      throw peer.error ?? new Error(`connection to 127.0.0.1:${port} closed before it was made`)
    }),
  ])
  return peer
}

/**
 * A listener on 127.0.0.1 port 0 that stands in for a server: `accepted()` resolves with each
 * connection in turn as a `RawPeer`.
 */
export class RawListener {
  readonly #server = net.createServer({ allowHalfOpen: true })
  readonly #peers: RawPeer[] = []
  readonly #waiting: ((peer: RawPeer) => void)[] = []
  port = 0

  static async open(): Promise<RawListener> {
    const listener = new RawListener()
    listener.#server.on('connection', (socket) => {
      const peer = new RawPeer(socket)
      const waiter = listener.#waiting.shift()
      if (waiter === undefined) listener.#peers.push(peer)
      else waiter(peer)
    })
    listener.#server.listen(0, '127.0.0.1')
    await once(listener.#server, 'listening')
    listener.port = (listener.#server.address() as net.AddressInfo).port
    defer(() => new Promise<void>((resolve) => listener.#server.close(() => resolve())))
    return listener
  }

  /** The next connection accepted, already or still to come. */
  accepted(): Promise<RawPeer> {
    const peer = this.#peers.shift()
    if (peer !== undefined) return Promise.resolve(peer)
    return new Promise((resolve) => this.#waiting.push(resolve))
  }
}

/** Resolves `'fired'` if `promise` settles within `ms`, else `'quiet'`: for "nothing happened". */
export async function within(promise: Promise<unknown>, ms: number): Promise<'fired' | 'quiet'> {
  let timer: NodeJS.Timeout | undefined
  const quiet = new Promise<'quiet'>((resolve) => {
    timer = setTimeout(() => resolve('quiet'), ms)
  })
  try {
    return await Promise.race([promise.then(() => 'fired' as const, () => 'fired' as const), quiet])
  } finally {
    clearTimeout(timer)
  }
}
