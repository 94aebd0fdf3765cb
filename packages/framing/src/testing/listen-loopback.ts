// listenLoopback: a server of the test's own made to listen on 127.0.0.1, port 0.
import { once } from 'node:events'
import type net from 'node:net'
import type { FakePeer } from './cli-cases.ts'

/**
 * Makes `server` (a `net`, `tls` or `http` server whose handlers the test wrote) listen on
 * 127.0.0.1 on a port the system picks, and resolves once it does with that port and a `close()`
 * that destroys the connections still open and stops listening. Fits `cliCases`'s `fakePeer`.
 */
export async function listenLoopback(server: net.Server): Promise<FakePeer> {
  const sockets = new Set<net.Socket>()
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the server has no TCP address')
  return {
    port: address.port,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
