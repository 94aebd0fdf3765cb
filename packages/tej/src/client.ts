import { connect as netConnect } from 'node:net'
import { callSignal, type CallOptions } from '@proto/framing'
import { TejConnection } from './connection.ts'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { TejConnectError } from './errors.ts'
import { resolveOptions, type TejOptions } from './options.ts'

/** Options of `connect`. */
export interface TejConnectOptions extends TejOptions, CallOptions {
  /** @default '127.0.0.1' */
  host?: string | undefined
  /** @default 8000 */
  port?: number | undefined
}

/**
 * Opens a TEJ connection; resolves once the socket is connected (TEJ has no handshake).
 * @throws {TejConnectError} when the connection fails (`cause`: the `net` error)
 * @throws {UsageError} for an option that is not an integer in range
 */
export async function connect(options: TejConnectOptions = {}): Promise<TejConnection> {
  const resolved = resolveOptions(options)
  const signal = callSignal(options)
  signal?.throwIfAborted()
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORT
  const socket = netConnect({ host, port, allowHalfOpen: true, noDelay: true })
  await new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      socket.off('connect', onConnect)
      socket.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
    }
    const onConnect = (): void => {
      cleanup()
      resolve()
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(new TejConnectError(host, port, { cause: err }))
    }
    const onAbort = (): void => {
      cleanup()
      // A connect error racing the abort must find a listener.
      socket.on('error', () => undefined)
      socket.destroy()
      reject(signal?.reason as Error)
    }
    socket.once('connect', onConnect)
    socket.once('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
  return new TejConnection(socket, { ...resolved, onFrame: options.onFrame })
}
