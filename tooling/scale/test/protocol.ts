// What the harness needs of a protocol: its backend program, the balancer's mode, and a client.
import { once } from 'node:events'
import net from 'node:net'
import type { PeerInfo } from '@proto/framing'
import type { BalancerMode } from './haproxy.ts'

/** What a backend answers a request with (see backends/kit.mjs). */
export interface Answer {
  readonly backend: string
  readonly id: string
  /** The peer the backend was given: the client the PROXY header named. */
  readonly remote: PeerInfo
}

/** One answered request, and the client's own end of the connection that carried it. */
export interface Answered {
  readonly answer: Answer
  readonly local: PeerInfo
}

/** A client of the protocol, from one local address. */
export interface ScaleClient {
  /** Sends request `id` and resolves with the answer; rejects when the connection fails. */
  request(id: string): Promise<Answered>
  close(): Promise<void>
}

/** One protocol, as the harness drives it. */
export interface ScaleProtocol {
  readonly name: string
  /** The program under backends/. */
  readonly backend: string
  readonly mode: BalancerMode
  /** Requests a client sends on one connection before it opens a new one. @default Infinity */
  readonly requestsPerConnection?: number
  /**
   * A backend serves one client at a time (oneline): it holds one request when told to, not
   * one per client. @default false
   */
  readonly oneClientAtATime?: boolean
  /** Environment for the backend processes, made once per deployment (korv's key files). @default none */
  backendEnv?(): Promise<Readonly<Record<string, string>>>
  /** A client connected to the balancer on 127.0.0.1:`port` from `localAddress`. */
  connect(port: number, localAddress: string): Promise<ScaleClient>
}

/** A TCP connection to 127.0.0.1:`port` from `localAddress`, once connected (for a package's `connect({ socket })`). */
export async function connectedSocket(port: number, localAddress: string): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress, allowHalfOpen: true })
  await once(socket, 'connect')
  return socket
}

/** The local end of a connected socket. */
export function localEnd(socket: net.Socket): PeerInfo {
  const { localAddress, localPort } = socket
  if (localAddress === undefined || localPort === undefined) throw new Error('the socket is not connected')
  return { address: localAddress, port: localPort }
}
