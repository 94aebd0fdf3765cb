// Many clients, each from its own loopback address (127.0.0.2, 127.0.0.3, ...), sending numbered
// requests through the balancer one after another; what was answered and what failed is kept.
import type { Answered, ScaleClient, ScaleProtocol } from './protocol.ts'

/** Requests one client may send in a run that lasts until told to stop: a bound, never reached by a passing run. */
const MAX_REQUESTS = 20_000
/** Failed requests in a row after which a client gives up: the balancer or every backend is gone. */
const MAX_FAILURES_IN_A_ROW = 20

/** What a run of clients saw. */
export interface Traffic {
  /** Every answer, with the client's end of the connection that carried it. */
  readonly answered: Answered[]
  /** The ids of the requests that failed (their connection closed or was refused). */
  readonly failed: string[]
}

/** The loopback address of client `i`: never 127.0.0.1, which is the balancer's. */
export function clientAddress(i: number): string {
  return `127.0.0.${i + 2}`
}

export interface TrafficOptions {
  readonly clients: number
  /** Requests each client sends; without it, clients go on until `stop()` is called. */
  readonly requests?: number
}

/** Running clients: `done` resolves with what they saw once every one has stopped. */
export interface RunningTraffic {
  readonly traffic: Traffic
  stop(): void
  readonly done: Promise<Traffic>
}

/** Starts `clients` clients against the balancer on 127.0.0.1:`port`. */
export function startTraffic(protocol: ScaleProtocol, port: number, options: TrafficOptions): RunningTraffic {
  const traffic: Traffic = { answered: [], failed: [] }
  let stopped = false
  const limit = options.requests ?? MAX_REQUESTS
  const perConnection = protocol.requestsPerConnection ?? Infinity

  async function client(i: number): Promise<void> {
    const address = clientAddress(i)
    let open: ScaleClient | undefined
    let onConnection = 0
    let failures = 0
    try {
      for (let n = 0; n < limit && !(options.requests === undefined && stopped); n++) {
        const id = `${address}#${n}`
        try {
          open ??= await protocol.connect(port, address)
          const answered = await open.request(id)
          traffic.answered.push(answered)
          failures = 0
          if (++onConnection >= perConnection) {
            onConnection = 0
            const done = open
            open = undefined
            await done.close()
          }
        } catch (err) {
          traffic.failed.push(id)
          if (++failures >= MAX_FAILURES_IN_A_ROW) throw new Error(`client ${address}: ${failures} requests failed in a row`, { cause: err })
          onConnection = 0
          const broken = open
          open = undefined
          await broken?.close().catch(() => undefined)
        }
      }
    } finally {
      await open?.close().catch(() => undefined)
    }
  }

  const done = Promise.all(Array.from({ length: options.clients }, (_, i) => client(i))).then(() => traffic)
  // Awaited by the test; a test that fails before then must not add an unhandled rejection.
  done.catch(() => undefined)
  return {
    traffic,
    stop: () => {
      stopped = true
    },
    done,
  }
}
