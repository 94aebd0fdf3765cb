import net from 'node:net'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { KarpConnectError } from './errors.ts'
import { Peer, resolveLimits, routeTable } from './peer.ts'
import type { KarpOptions, KarpPeer } from './peer.ts'

/** Options of `connect()`. */
export interface KarpConnectOptions extends KarpOptions {
  /** @default '127.0.0.1' */
  host?: string | undefined
  /** @default 7755 */
  port?: number | undefined
  /** Aborting before the connection is up rejects with `signal.reason`. @default undefined */
  signal?: AbortSignal | undefined
}

/**
 * Opens a connection and resolves as soon as TCP is up; the result both sends requests and serves
 * `routes` to the other end.
 * @throws {KarpConnectError} when the connection fails (`cause`: the `net` error)
 * @throws {KarpInvalidRouteError} for a route name that is not `[a-z_]+` once lowercased
 * @throws {UsageError} for a bad limit
 */
export async function connect(options: KarpConnectOptions = {}): Promise<KarpPeer> {
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORT
  const limits = resolveLimits(options)
  const routes = routeTable(options.routes)
  const signal = options.signal
  signal?.throwIfAborted()
  const socket = net.connect({ host, port, allowHalfOpen: true })
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      socket.off('connect', onConnect)
      socket.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
    }
    const onConnect = (): void => {
      done()
      resolve()
    }
    const onError = (err: Error): void => {
      done()
      reject(new KarpConnectError(host, port, { cause: err }))
    }
    const onAbort = (): void => {
      done()
      socket.destroy()
      reject(signal?.reason as Error)
    }
    socket.once('connect', onConnect)
    socket.once('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
  return new Peer(socket, limits, routes)
}
