// tcpPair: two ends of a real half-open TCP connection on 127.0.0.1.
import net from 'node:net'
import { once } from 'node:events'

/** Two real connected sockets on 127.0.0.1, both `allowHalfOpen`. */
export interface TcpPair {
  client: net.Socket
  server: net.Socket
  /** Destroys both sockets and waits until they are closed. */
  close(): Promise<void>
}

/** Opens a real half-open socket pair on `127.0.0.1:0`; the listener is closed once connected. */
export async function tcpPair(): Promise<TcpPair> {
  const listener = net.createServer({ allowHalfOpen: true })
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const address = listener.address()
  if (address === null || typeof address === 'string') throw new Error('listener has no TCP address')
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>
  const client = net.connect({ host: '127.0.0.1', port: address.port, allowHalfOpen: true })
  const [[server]] = await Promise.all([accepted, once(client, 'connect')])
  // Stops accepting; the listener itself goes away once both sockets have closed.
  listener.close()
  return {
    client,
    server,
    async close() {
      const closing = [client, server].filter((s) => !s.closed).map((s) => once(s, 'close'))
      client.destroy()
      server.destroy()
      await Promise.all(closing)
    },
  }
}
