// The least work an implementation of the oneline spec on @proto/framing does for one sequential
// command/response: FramedConnection with a LineDecoder on both ends (framing.md's batching and
// async frame iteration), commands and replies as UTF-8 text, the reply's write awaited for
// backpressure, one promise per request. It checks nothing, has no timeouts, no queue and no
// built-ins. Its ratio to raw TCP is the ceiling that the prescribed building blocks leave.
import net from 'node:net'
import { FramedConnection, LineDecoder, encodeLine } from '@proto/framing'

const utf8 = (line) => line.toString('utf8')

/** A server answering each command with `handler(text)`; resolves with its port and a close(). */
export async function leastOnelineServer(handler) {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, async (socket) => {
    const conn = new FramedConnection(socket, { decoder: new LineDecoder() })
    try {
      for await (const line of conn.frames()) await conn.write(encodeLine(handler(utf8(line))))
    } catch {
      // The client went away.
    }
    conn.destroy()
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: server.address().port, close: () => new Promise((resolve) => server.close(resolve)) }
}

/** A client whose `request(command)` resolves with the next reply line as text. */
export async function leastOnelineClient(port) {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true })
  await new Promise((resolve) => socket.once('connect', resolve))
  const conn = new FramedConnection(socket, { decoder: new LineDecoder() })
  const waiting = []
  void (async () => {
    for await (const line of conn.frames()) waiting.shift()?.(utf8(line))
  })().catch(() => {})
  return {
    request(command) {
      return new Promise((resolve) => {
        waiting.push(resolve)
        void conn.write(encodeLine(command))
      })
    },
    close: async () => conn.destroy(),
  }
}
