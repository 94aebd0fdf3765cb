// A peer that pipelines calls on one keep-alive connection and never reads the replies. Node
// answers a connection's requests in order, so every reply waits behind the first one, and Node
// never reports to a waiting reply that the connection has closed: the server must still let
// each of those calls go when it does.
import { once } from 'node:events'
import net from 'node:net'
import { Readable } from 'node:stream'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it } from 'vitest'
import { currentCall } from '../src/context.ts'
import { createServer } from '../src/server.ts'
import type { KrpcServer } from '../src/server.ts'

/**
 * Calls queued behind the first one per attack: more than an emitter's default of 10 listeners,
 * and few and small enough (about 150 bytes of reply each) that Node never stops reading them.
 */
const PIPELINED = 32
/** Attacks measured for memory, after one that warms the server up. */
const ROUNDS = 40
/**
 * Held memory (heap in use plus ArrayBuffers, after a full collection) the measured attacks may
 * add in all. Readings on Node 20.20: 0.43 MiB with every call let go, the same as 40
 * connections that make one ordinary call each (what a warming V8 adds); 5.65 MiB when the
 * 1,280 queued calls were kept (about 4.5 KiB each). The bound sits between, well above noise.
 */
const HELD_BOUND = 2 * 1_048_576

/** A count that can be awaited. */
class Counter {
  #count = 0
  readonly #waiters: { count: number; resolve: () => void }[] = []

  get count(): number {
    return this.#count
  }

  add(): void {
    this.#count++
    for (const waiter of [...this.#waiters]) {
      if (this.#count < waiter.count) continue
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
  }

  async until(count: number): Promise<void> {
    if (this.#count >= count) return
    await new Promise<void>((resolve) => this.#waiters.push({ count, resolve }))
  }
}

interface Target {
  readonly server: KrpcServer
  readonly port: number
  /** `echo` calls that have run. */
  readonly echoes: Counter
  /** `hold` calls whose signal has told them that the peer went away. */
  readonly released: Counter
  /** What `endless` calls returned, as they return it. */
  readonly streams: Readable[]
  readonly streamed: Counter
}

const servers: KrpcServer[] = []

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close({ signal: AbortSignal.abort() })))
})

async function start(): Promise<Target> {
  const echoes = new Counter()
  const released = new Counter()
  const streams: Readable[] = []
  const streamed = new Counter()
  const server = createServer({ handlers: {
    echo: (value: unknown) => {
      echoes.add()
      return value
    },
    // Answers only once the peer has gone: every reply after it must wait.
    hold: () => {
      const { signal } = currentCall()
      return new Promise((resolve) => signal.addEventListener('abort', () => {
        released.add()
        resolve('gone')
      }, { once: true }))
    },
    // A binary reply that never ends by itself.
    endless: () => {
      const chunk = Buffer.alloc(16_384, 0x65)
      const stream = Readable.from((function* () {
        for (;;) yield chunk
      })())
      streams.push(stream)
      streamed.add()
      return stream
    },
  } })
  servers.push(server)
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  return { server, port, echoes, released, streams, streamed }
}

function get(call: object): string {
  return `GET /?json=${encodeURIComponent(JSON.stringify(call))} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`
}

/**
 * A paused raw socket that sends `hold`, PIPELINED echoes and then `last`; resolves once the
 * echoes have run.
 */
async function pipeline(target: Target, last = ''): Promise<net.Socket> {
  const attacker = net.connect({ host: '127.0.0.1', port: target.port })
  attacker.on('error', () => {})
  await once(attacker, 'connect')
  attacker.pause()
  const echoed = target.echoes.count + PIPELINED
  attacker.write(get({ method: 'hold' }) + get({ method: 'echo', params: ['x'] }).repeat(PIPELINED) + last)
  await target.echoes.until(echoed)
  return attacker
}

/** What JavaScript holds after a full collection: heap in use plus ArrayBuffers. */
function held(gc: () => void): number {
  // The second pass frees what the first one's finalizers released.
  gc()
  gc()
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return heapUsed + arrayBuffers
}

describe('a peer that pipelines calls and never reads the replies', () => {
  it('does not keep close() waiting once the close signal has aborted', async () => {
    const target = await start()
    const attacker = await pipeline(target)
    await target.server.close({ signal: AbortSignal.abort() })
    expect(target.released.count).toBe(1)
    attacker.destroy()
  })

  it('does not keep close() waiting once the peer has gone', async () => {
    const target = await start()
    const attacker = await pipeline(target)
    attacker.destroy()
    await target.released.until(1)
    await target.server.close()
  })

  it('stops a streamed reply that waits behind another once the peer has gone', async () => {
    const target = await start()
    const attacker = await pipeline(target, get({ method: 'endless' }))
    await target.streamed.until(1)
    const stream = target.streams[0] ?? expect.unreachable('endless was not called')
    const closed = new Promise((resolve) => stream.once('close', resolve))
    attacker.destroy()
    await closed
    await target.server.close()
  })

  it('adds no listener per call to the connection', async () => {
    const warnings: Error[] = []
    const onWarning = (warning: Error): void => {
      warnings.push(warning)
    }
    process.on('warning', onWarning)
    try {
      const target = await start()
      const attacker = await pipeline(target)
      attacker.destroy()
      await target.released.until(1)
    } finally {
      process.off('warning', onWarning)
    }
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([])
  })

  it('keeps nothing of the calls once the peer has gone', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const target = await start()
    const attackAndLeave = async (): Promise<void> => {
      const attacker = await pipeline(target)
      const released = target.released.count + 1
      attacker.destroy()
      await target.released.until(released)
    }
    await attackAndLeave()
    const base = held(gc)
    for (let round = 0; round < ROUNDS; round++) await attackAndLeave()
    const growth = held(gc) - base
    expect(growth).toBeLessThan(HELD_BOUND)
    await target.server.close()
  })
})
