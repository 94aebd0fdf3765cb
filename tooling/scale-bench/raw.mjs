// The raw contenders: a node:net echo server (the ceiling of the worker benchmark) with its
// client, and a bare TCP connection (what an idle client of most protocols is).
import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import net from 'node:net'
import process from 'node:process'

const MESSAGE = Buffer.alloc(64, 0x78)

/** A node:net server that writes back every chunk it reads. */
export async function startServer({ port }) {
  const sockets = new Set()
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket)
    socket.on('data', (chunk) => socket.write(chunk))
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  server.listen({ host: '127.0.0.1', port })
  await once(server, 'listening')
  return { port: server.address().port, connections: () => sockets.size }
}

/** A TCP connection on 127.0.0.1, once connected. */
export async function openTcp({ port }) {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
  await once(socket, 'connect')
  return socket
}

/**
 * A client of the echo server: each call writes 64 bytes and ends when 64 more have come back.
 * Calls made in one tick leave in one write, so the client costs less per call than the server
 * and the server, not the load generator, is what runs out of CPU first.
 */
export async function openClient({ port }) {
  const socket = await openTcp({ port })
  const waiting = []
  let received = 0
  socket.on('data', (chunk) => {
    received += chunk.length
    while (received >= MESSAGE.length && waiting.length > 0) {
      received -= MESSAGE.length
      waiting.shift()()
    }
  })
  return {
    call() {
      if (socket.writableCorked === 0) {
        socket.cork()
        process.nextTick(() => socket.uncork())
      }
      socket.write(MESSAGE)
      return new Promise((resolve) => waiting.push(resolve))
    },
  }
}
