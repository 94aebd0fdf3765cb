// A local TCP peer that accepts connections and never answers.
import { once } from 'node:events'
import net from 'node:net'

/** What `silentServer()` returns. */
export interface SilentServer {
  readonly host: '127.0.0.1'
  readonly port: number
  /** The connections accepted so far, held open and never written to. */
  readonly sockets: ReadonlySet<net.Socket>
  /** Resolves with the next connection accepted. */
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
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => sockets.delete(socket))
    socket.on('close', () => sockets.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the silent server has no TCP address')
  return {
    host: '127.0.0.1',
    port: address.port,
    sockets,
    async accepted() {
      const [socket] = (await once(server, 'connection')) as [net.Socket]
      return socket
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
