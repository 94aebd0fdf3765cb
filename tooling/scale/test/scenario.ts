// The three checks every protocol gets, behind one HAProxy with PROXY protocol v2: traffic from
// many clients all answered and spread over both backends; the real client address and port at
// each backend; and a backend closed gracefully mid-traffic losing no request it had accepted.
import { beforeAll, describe, expect, it } from 'vitest'
import { Backend } from './backend.ts'
import type { BackendEvent } from './backend.ts'
import { startBalancer } from './haproxy.ts'
import type { Balancer } from './haproxy.ts'
import type { ScaleProtocol } from './protocol.ts'
import { startTraffic } from './traffic.ts'
import type { Traffic } from './traffic.ts'

const CLIENTS = 8
const REQUESTS = 25

interface Deployment {
  readonly balancer: Balancer
  readonly backends: readonly [Backend, Backend]
}

async function deploy(protocol: ScaleProtocol): Promise<Deployment> {
  const env = (await protocol.backendEnv?.()) ?? {}
  const backends = [new Backend(protocol.backend, 'a', env), new Backend(protocol.backend, 'b', env)] as const
  const ports = await Promise.all(backends.map((backend) => backend.port()))
  const balancer = await startBalancer(protocol.mode, ports)
  return { balancer, backends }
}

const requestCount = (backend: Backend): number => backend.accepted.size

/** The requests a backend accepted after it began to hold them. */
function heldIds(events: readonly BackendEvent[]): string[] {
  const from = events.findIndex(({ event }) => event === 'holding')
  if (from === -1) return []
  return events.slice(from).flatMap((event) => (event.event === 'request' ? [event.id] : []))
}

/** Registers the three checks for `protocol`. */
export function scaleSuite(protocol: ScaleProtocol): void {
  describe(`${protocol.name} behind HAProxy (${protocol.mode} mode, PROXY protocol v2)`, () => {
    let deployment: Deployment
    let traffic: Traffic

    beforeAll(async () => {
      deployment = await deploy(protocol)
      traffic = await startTraffic(protocol, deployment.balancer.port, { clients: CLIENTS, requests: REQUESTS }).done
    })

    it('answers every request of many clients, spread over both backends', () => {
      const [a, b] = deployment.backends
      expect(traffic.failed).toEqual([])
      expect(traffic.answered).toHaveLength(CLIENTS * REQUESTS)
      const ids = traffic.answered.map(({ answer }) => answer.id)
      expect(new Set(ids).size).toBe(CLIENTS * REQUESTS)
      // Each request reached exactly one backend, the one that answered it.
      for (const { answer } of traffic.answered) {
        const [answering, other] = answer.backend === 'a' ? [a, b] : [b, a]
        expect(answering.accepted.has(answer.id), answer.id).toBe(true)
        expect(other.accepted.has(answer.id), answer.id).toBe(false)
      }
      expect(requestCount(a) + requestCount(b)).toBe(CLIENTS * REQUESTS)
      expect(requestCount(a)).toBeGreaterThan(0)
      expect(requestCount(b)).toBeGreaterThan(0)
    })

    it('gives each backend the real client address and port, not the balancer’s', () => {
      const backends = new Map(deployment.backends.map((backend) => [backend.name, backend]))
      for (const { answer, local } of traffic.answered) {
        expect(local.address).not.toBe('127.0.0.1')
        expect(answer.remote).toEqual(local)
        expect(backends.get(answer.backend)?.accepted.get(answer.id)).toEqual(local)
      }
      const addresses = new Set(traffic.answered.map(({ local }) => local.address))
      expect(addresses.size).toBe(CLIENTS)
    })

    it('loses no accepted request when a backend closes gracefully under traffic', async () => {
      const { balancer, backends } = await deploy(protocol)
      const [a, b] = backends
      const running = startTraffic(protocol, balancer.port, { clients: CLIENTS })
      // Both serve, then a holds what it accepts until it closes: those requests are in its
      // handlers, unanswered, when server.close() is called.
      await Promise.all([a.until(() => requestCount(a) >= CLIENTS, 'traffic'), b.until(() => requestCount(b) >= CLIENTS, 'traffic')])
      a.send('hold')
      const toHold = protocol.oneClientAtATime === true ? 1 : 2
      await a.until((events) => heldIds(events).length >= toHold, 'held requests')
      a.send('close')
      await a.until((events) => events.some(({ event }) => event === 'closed'), 'close')
      // The clients that were on a go on through b.
      const atClose = requestCount(b)
      await b.until(() => requestCount(b) >= atClose + 4 * CLIENTS, 'traffic after the close')
      running.stop()
      const { answered, failed } = await running.done
      await a.exited

      const answeredBy = new Map(answered.map(({ answer }) => [answer.id, answer.backend]))
      const held = heldIds(a.events)
      expect(held.length).toBeGreaterThanOrEqual(toHold)
      for (const id of held) expect(answeredBy.get(id), id).toBe('a')
      for (const id of a.accepted.keys()) expect(answeredBy.get(id), id).toBe('a')
      for (const id of b.accepted.keys()) expect(answeredBy.get(id), id).toBe('b')
      // A request that failed was accepted by no backend: it was refused, never lost.
      for (const id of failed) {
        expect(a.accepted.has(id), id).toBe(false)
        expect(b.accepted.has(id), id).toBe(false)
      }
    })
  })
}
