// A local TCP peer that accepts connections and never answers.
import { once } from 'node:events'
import net from 'node:net'

/** What `silentServer()` returns. */
export interface SilentServer {
  readonly host: '127.0.0.1'
  readonly port: number
  /** The connections open, held and never written to; what they receive is dropped. */
  readonly sockets: ReadonlySet<net.Socket>
  /** Resolves with the oldest connection not yet handed out by `accepted()`, waiting for one if need be. */
  accepted(): Promise<net.Socket>
  /** Destroys every connection and stops listening. */
  close(): Promise<void>
}

/**
 * A server on `127.0.0.1:0` that accepts and then stays silent: a TLS handshake or a request to
 * it never completes, so a connect or call timeout can be tested without dialling any other
 * address.
 */
export async function silentServer(): Promise<SilentServer> {
  const sockets = new Set<net.Socket>()
  const unclaimed: net.Socket[] = []
  const waiting: ((socket: net.Socket) => void)[] = []
  const server = net.createServer((socket) => {
    sockets.add(socket)
    // A peer that resets is only gone; that is no failure of a server that never answers.
    socket.on('error', () => sockets.delete(socket))
    socket.on('close', () => sockets.delete(socket))
    // Read and dropped, so that the server still sees the peer leave.
    socket.resume()
    const waiter = waiting.shift()
    if (waiter === undefined) unclaimed.push(socket)
    else waiter(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the silent server has no TCP address')
  return {
    host: '127.0.0.1',
    port: address.port,
    sockets,
    accepted() {
      const socket = unclaimed.shift()
      if (socket !== undefined) return Promise.resolve(socket)
      return new Promise((resolve) => waiting.push(resolve))
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
