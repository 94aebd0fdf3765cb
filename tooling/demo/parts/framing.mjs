// framing: a line echo server on 127.0.0.1:0 built from FramedConnection alone. The client sends
// three lines and then one over the server's 64-byte limit; the server echoes the lines, answers
// the long one with the error code it got, and both sides close.
import net from 'node:net'
import { once } from 'node:events'
import { FramedConnection, LineDecoder, encodeLine, isProtoError } from '@proto/framing'

const MAX_LINE_BYTES = 64

async function serve(socket) {
  const conn = new FramedConnection(socket, { decoder: new LineDecoder({ maxLineBytes: MAX_LINE_BYTES }) })
  try {
    for await (const line of conn.frames()) await conn.write(encodeLine(line))
  } catch (err) {
    // The limit is a typed error: tell the peer its code instead of hanging up silently.
    await conn.write(encodeLine(`error ${isProtoError(err) ? err.code : 'unknown'}`))
  }
  await conn.end()
}

export async function run() {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    serve(socket).catch((err) => console.error('framing demo server:', err))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { address, port } = server.address()
  console.log(`line echo server listening on ${address}:${port}`)

  const socket = net.connect({ host: address, port, allowHalfOpen: true })
  await once(socket, 'connect')
  const client = new FramedConnection(socket, { decoder: new LineDecoder() })
  const lines = ['hello', 'framed', 'world', 'x'.repeat(MAX_LINE_BYTES + 1)]
  for (const line of lines) {
    console.log(`> ${line.length > 20 ? `${line.slice(0, 12)}… (${line.length} bytes)` : line}`)
    await client.write(encodeLine(line))
  }
  await client.end()
  for await (const reply of client.frames()) console.log(`< ${reply}`)
  await client.closed
  server.close()
  await once(server, 'close')
}
