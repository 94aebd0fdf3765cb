// ws as the reference of the idle-connection measurement: a WebSocketServer and its clients.
import { once } from 'node:events'
import { WebSocket, WebSocketServer } from 'ws'

/** A WebSocketServer on 127.0.0.1 that accepts every connection and sends nothing. */
export async function startServer({ port }) {
  const server = new WebSocketServer({ host: '127.0.0.1', port })
  await once(server, 'listening')
  server.on('connection', (socket) => socket.on('error', () => {}))
  return { port: server.address().port, connections: () => server.clients.size }
}

/** A WebSocket client, once its handshake is done. */
export async function openIdle({ port }) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}`)
  await once(socket, 'open')
  return socket
}
