// What every protocol's attacks share: memory readings, raw sockets driven by events, the
// record of typed clientErrors, and the loop that keeps a well-behaved client busy while an
// attack runs.
import { once } from 'node:events'
import net from 'node:net'
import type { Duplex } from 'node:stream'

const MiB = 1_048_576
export { MiB }

// --- memory -------------------------------------------------------------------------------

export interface MemoryReading {
  /** Resident set size. */
  readonly rss: number
  /** What JavaScript holds: the V8 heap in use plus ArrayBuffers (every Buffer). */
  readonly held: number
}

const gc = (globalThis as { gc?: () => void }).gc

/**
 * A reading after a full collection (vitest runs this suite with `--expose-gc`), so garbage
 * that a collection would free is not counted, only what the server still holds.
 */
export function collectedMemory(): MemoryReading {
  if (gc !== undefined) {
    // The second pass frees what the first one's finalizers released.
    gc()
    gc()
  }
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage()
  return { rss, held: heapUsed + arrayBuffers }
}

export type MemoryGrowth = {
  /** Held bytes over the baseline at the end, attackers still connected. */
  readonly held: number
  /** Resident bytes over the baseline at the end. */
  readonly rss: number
  /** The largest held growth of any reading during the attack. */
  readonly peakHeld: number
  /** The largest resident growth of any reading during the attack. */
  readonly peakRss: number
}

/**
 * Memory growth across an attack: a collected baseline when created, collected samples while
 * the attack runs, and a collected reading at the end, taken while the attackers are still
 * connected so that whatever the server keeps for them is counted.
 */
export class MemoryWatch {
  readonly #label: string
  readonly #base: MemoryReading
  #peakRss = 0
  #peakHeld = 0

  constructor(label: string) {
    this.#label = label
    this.#base = collectedMemory()
  }

  sample(): MemoryReading {
    const now = collectedMemory()
    this.#peakRss = Math.max(this.#peakRss, now.rss - this.#base.rss)
    this.#peakHeld = Math.max(this.#peakHeld, now.held - this.#base.held)
    return now
  }

  settle(): MemoryGrowth {
    const now = this.sample()
    const growth: MemoryGrowth = {
      held: now.held - this.#base.held,
      rss: now.rss - this.#base.rss,
      peakHeld: this.#peakHeld,
      peakRss: this.#peakRss,
    }
    report(this.#label, growth)
    return growth
  }
}

/**
 * With RELIABILITY_REPORT=1 each measurement is printed (in MiB): the readings the bounds in the
 * tests were derived from.
 */
export function report(label: string, values: Readonly<Record<string, number>>): void {
  if (process.env.RELIABILITY_REPORT === undefined) return
  const parts = Object.entries(values).map(([key, value]) => `${key}=${(value / MiB).toFixed(2)}MiB`)
  console.info(`[reliability] ${label}: ${parts.join(' ')}`)
}

// --- typed clientErrors -------------------------------------------------------------------

interface CodedError {
  readonly code: string
}

interface ClientErrorSource<E extends CodedError> {
  on(event: 'clientError', listener: (err: E, ...rest: unknown[]) => void): unknown
}

/**
 * The `clientError`s a server emits: a count per code, the first `KEPT` errors themselves (a
 * flood of bad frames must not fill this process with error objects), and a way to await a count.
 */
export class ClientErrors<E extends CodedError = CodedError> {
  static readonly KEPT = 100
  readonly all: E[] = []
  readonly #counts = new Map<string, number>()
  readonly #waiters: { code: string; count: number; resolve: () => void }[] = []

  constructor(server: ClientErrorSource<E>) {
    server.on('clientError', (err) => {
      if (this.all.length < ClientErrors.KEPT) this.all.push(err)
      this.#counts.set(err.code, this.count(err.code) + 1)
      for (const waiter of [...this.#waiters]) {
        if (this.count(waiter.code) >= waiter.count) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
          waiter.resolve()
        }
      }
    })
  }

  count(code: string): number {
    return this.#counts.get(code) ?? 0
  }

  /** Resolves once `count` errors with this code have been reported in all. */
  async until(code: string, count = 1): Promise<void> {
    if (this.count(code) >= count) return
    await new Promise<void>((resolve) => this.#waiters.push({ code, count, resolve }))
  }

  /** Every code reported so far, sorted. */
  codes(): string[] {
    return [...this.#counts.keys()].sort()
  }
}

// --- raw sockets --------------------------------------------------------------------------

/**
 * A raw TCP connection to 127.0.0.1, resolved once connected. It reads (and drops) what it
 * receives unless paused, so the server's FIN is seen, and it ends its side when the server
 * ends its own: a server that closes it gets it closed. `end()` still half-closes it.
 */
export async function connectRaw(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port })
  // A server that closes a hostile peer may reset it; the test looks at 'close', not 'error'.
  socket.on('error', () => {})
  socket.resume()
  await once(socket, 'connect')
  return socket
}

/** Resolves when the socket has closed, however it ended. */
export function closed(socket: net.Socket): Promise<void> {
  if (socket.closed) return Promise.resolve()
  return new Promise((resolve) => socket.once('close', () => resolve()))
}

/** Resolves on 'drain' or 'close', never rejects: a write error ends the attack, not the test. */
function drainedOrClosed(socket: Duplex): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done)
      socket.off('close', done)
      resolve()
    }
    socket.on('drain', done)
    socket.on('close', done)
  })
}

/** Resolves when the peer's FIN has arrived or the socket has closed. */
export function ended(socket: net.Socket): Promise<void> {
  if (socket.readableEnded || socket.closed) return Promise.resolve()
  return new Promise((resolve) => {
    socket.once('end', () => resolve())
    socket.once('close', () => resolve())
  })
}

/** Everything the socket receives, kept until the test reads it. */
export class Received {
  readonly #chunks: Buffer[] = []
  #length = 0
  readonly #waiters: { test: (all: Buffer) => boolean; resolve: (all: Buffer) => void }[] = []

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk)
      this.#length += chunk.length
      const all = this.bytes()
      for (const waiter of [...this.#waiters]) {
        if (waiter.test(all)) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
          waiter.resolve(all)
        }
      }
    })
  }

  get length(): number {
    return this.#length
  }

  bytes(): Buffer {
    return Buffer.concat(this.#chunks)
  }

  text(): string {
    return this.bytes().toString('utf8')
  }

  /** Resolves with everything received once it satisfies `test`. */
  until(test: (all: Buffer) => boolean): Promise<Buffer> {
    const all = this.bytes()
    if (test(all)) return Promise.resolve(all)
    return new Promise((resolve) => this.#waiters.push({ test, resolve }))
  }

  untilIncludes(text: string): Promise<Buffer> {
    return this.until((all) => all.includes(text))
  }
}

/** Sends a TCP RST instead of a FIN. */
export function reset(socket: net.Socket): void {
  socket.resetAndDestroy()
}

/**
 * Opens `count` raw connections, `batch` at a time so the listen backlog (511) never
 * overflows: a dropped SYN would cost a one-second retransmission.
 */
export async function openMany(port: number, count: number, batch = 200): Promise<net.Socket[]> {
  const sockets: net.Socket[] = []
  while (sockets.length < count) {
    const size = Math.min(batch, count - sockets.length)
    sockets.push(...(await Promise.all(Array.from({ length: size }, () => connectRaw(port)))))
  }
  return sockets
}

/**
 * Writes `chunk` over and over, the next write only after 'drain', until `total` bytes are
 * queued or the socket closes. The one reused chunk keeps the attacker's own memory flat, so
 * a reading shows what the server holds. `flushed` counts bytes the kernel has taken; `watch`,
 * if given, takes a reading each time another 4 MiB have gone.
 */
const SAMPLE_EVERY = 4 * MiB

export class Flood {
  readonly done: Promise<void>
  #queued = 0
  #flushed = 0

  /** Resolves once every byte queued has been flushed to the kernel, or the socket has closed. */
  readonly flushedAll: Promise<void>

  constructor(socket: Duplex, chunk: Uint8Array, total: number, watch?: MemoryWatch) {
    let nextSample = SAMPLE_EVERY
    const flushed = (err?: Error | null): void => {
      if (err != null) return
      this.#flushed += chunk.length
      if (watch !== undefined && this.#flushed >= nextSample) {
        nextSample += SAMPLE_EVERY
        watch.sample()
      }
    }
    this.done = (async () => {
      while (this.#queued < total && !socket.destroyed && socket.writable) {
        this.#queued += chunk.length
        if (!socket.write(chunk, flushed)) await drainedOrClosed(socket)
      }
    })()
    // Write callbacks run in order, so an empty write's callback comes after every byte before it.
    this.flushedAll = this.done.then(async () => {
      if (socket.destroyed || !socket.writable) return
      await new Promise<void>((resolve) => socket.write(Buffer.alloc(0), () => resolve()))
    })
  }

  get queued(): number {
    return this.#queued
  }

  get flushed(): number {
    return this.#flushed
  }
}

/**
 * Writes `bytes` one byte per write, each after the previous one has reached the kernel: a
 * slowloris whose pace is the event loop's, so no timer decides what the test sees. Stops
 * early if the socket closes; resolves with the number of bytes sent.
 */
export async function dribble(socket: net.Socket, bytes: Uint8Array): Promise<number> {
  let sent = 0
  for (const byte of bytes) {
    if (socket.destroyed || !socket.writable) break
    const ok = await new Promise<boolean>((resolve) => socket.write(Buffer.of(byte), (err) => resolve(err == null)))
    if (!ok) break
    sent++
  }
  return sent
}

// Each write takes one of these: no allocation per byte in the process being measured.
const ONE_BYTE = Array.from({ length: 256 }, (_, byte) => Buffer.of(byte))

/**
 * Writes `bytes` to each of `sockets` one byte per write and TCP segment (Nagle off), one byte to
 * every socket per turn of the event loop, so the server in this process reads each in a read of
 * its own, as from a peer that sends 1-byte segments on purpose. `head` goes first, in one write.
 * A socket that is no longer writable is passed over, and the writing stops when none is left.
 * With `watch`, a memory reading every 4096 bytes. Resolves a turn after the last byte.
 */
export async function segmented(
  sockets: net.Socket | readonly net.Socket[],
  bytes: Uint8Array,
  options: { readonly head?: string | Uint8Array; readonly watch?: MemoryWatch } = {},
): Promise<void> {
  const all = Array.isArray(sockets) ? sockets : [sockets]
  for (const socket of all) {
    socket.setNoDelay(true)
    if (options.head !== undefined) socket.write(options.head)
  }
  for (const [i, byte] of bytes.entries()) {
    const open = all.filter((socket) => socket.writable)
    if (open.length === 0) return
    for (const socket of open) socket.write(ONE_BYTE[byte])
    await new Promise((resolve) => setImmediate(resolve))
    if (i % 4096 === 4095) options.watch?.sample()
  }
  await new Promise((resolve) => setImmediate(resolve))
}

// --- the well-behaved client --------------------------------------------------------------

/**
 * Runs `probe` (one complete exchange of a well-behaved client) again and again until
 * `progress()` has not moved for `quietRounds` probes in a row, sampling memory after each.
 * Each probe passes through the server's event loop several times, so a server that still
 * reads the attacker would move `progress` meanwhile: a quiet run means it has stopped
 * reading, by backpressure or by closing. Each probe is followed by a memory reading. Bounded
 * by `maxProbes`; returns the probe count.
 */
export async function probeUntilQuiet(
  probe: () => Promise<void>,
  progress: () => number,
  watch: MemoryWatch,
  { quietRounds = 5, maxProbes = 2_000 }: { quietRounds?: number; maxProbes?: number } = {},
): Promise<number> {
  let last = progress()
  let quiet = 0
  let probes = 0
  while (quiet < quietRounds) {
    if (probes >= maxProbes) throw new Error(`the attack was still moving after ${maxProbes} probes`)
    await probe()
    probes++
    watch.sample()
    const now = progress()
    quiet = now === last ? quiet + 1 : 0
    last = now
  }
  return probes
}

/**
 * The same quiet check for a server that serves one client at a time (oneline), where no
 * probe can run beside the attacker: each round is one turn of the event loop's check phase,
 * which comes after a poll of every socket.
 */
export async function turnsUntilQuiet(
  progress: () => number,
  { quietTurns = 50, maxTurns = 200_000 }: { quietTurns?: number; maxTurns?: number } = {},
): Promise<void> {
  let last = progress()
  let quiet = 0
  for (let turns = 0; quiet < quietTurns; turns++) {
    if (turns >= maxTurns) throw new Error(`the attack was still moving after ${maxTurns} turns`)
    await new Promise<void>((resolve) => setImmediate(resolve))
    const now = progress()
    quiet = now === last ? quiet + 1 : 0
    last = now
  }
}
