// The Node client's connections: node:http's keep-alive pool, each connection opened by framing's connectStream.
import { Agent } from 'node:http'
import type { ClientRequestArgs } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import { connectStream } from '@proto/framing'
import type { ConnectOptions } from '@proto/framing'
import type { PeerInfo } from '@proto/framing'
import { DEFAULT_PORT } from './constants.ts'
import { channels } from './diagnostics.ts'
import { KRPC_ERRORS } from './errors.ts'
import type { KrpcClient } from './types.ts'

/** Where the pool connects: a host and port or a unix socket, with TLS for `https:`. */
export interface AgentTarget {
  readonly host: string
  readonly port: number
  readonly path: string | undefined
  readonly tls: TlsConnectionOptions | undefined
  readonly https: boolean
  readonly connectTimeout: number
  /** The client whose connections these are, for diagnostics messages, and the server as it names it. */
  readonly client: KrpcClient
  readonly remote: PeerInfo
}

/**
 * A keep-alive agent whose new connections come from `connectStream`: a unix socket or TCP, TLS
 * over either for `https:`, under `connectTimeout`. A failure reaches the request as the
 * package's ConnectError or TimeoutError, naming the target.
 */
export class ConnectAgent extends Agent {
  readonly #options: ConnectOptions
  readonly #client: KrpcClient
  readonly #remote: PeerInfo

  constructor(target: AgentTarget) {
    super({ keepAlive: true })
    this.#client = target.client
    this.#remote = target.remote
    const where = target.path === undefined ? { host: target.host, port: target.port } : { path: target.path }
    this.#options = {
      ...where,
      ...(target.https ? { tls: target.tls ?? true } : {}),
      connectTimeout: target.connectTimeout,
    }
  }

  // node:http takes the connection from the callback when this returns nothing.
  override createConnection(_options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex {
    connectStream(this.#options, { port: DEFAULT_PORT, errors: KRPC_ERRORS, allowHalfOpen: false }).then(
      (stream) => {
        if (channels.connectionOpen.hasSubscribers) this.#announce(stream)
        callback?.(null, stream)
      },
      (err: unknown) => callback?.(err as Error, undefined as unknown as Duplex),
    )
    return undefined as unknown as Duplex
  }

  #announce(stream: Duplex): void {
    const message = { side: 'client' as const, remote: this.#remote, connection: this.#client }
    channels.connectionOpen.publish(message)
    stream.once('close', () => channels.connectionClose.publish(message))
  }
}
