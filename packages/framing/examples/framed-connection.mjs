// A line echo server and a client on a real socket, each side a FramedConnection: frames in
// through a decoder, writes that respect backpressure, an idle limit, and a clean close. Create
// sockets with `allowHalfOpen: true`, so a reply can follow the peer's FIN.
//
// Prints:
//   reply: hello
//   reply: world
//   server: client closed cleanly
import { once } from 'node:events'
import net from 'node:net'
import { FramedConnection, LineDecoder, encodeLine } from '@proto/framing'

const server = net.createServer({ allowHalfOpen: true }, async (socket) => {
  const conn = new FramedConnection(socket, { decoder: new LineDecoder({ maxLineBytes: 1024 }), idleTimeout: 30_000 })
  for await (const line of conn.frames()) await conn.write(encodeLine(line))
  await conn.end()
  const err = await conn.closed // undefined after a clean close, else the ProtoError that ended it
  console.log(`server: ${err === undefined ? 'client closed cleanly' : err.code}`)
  server.close()
})
const closed = once(server, 'close')
server.listen(0, '127.0.0.1')
await once(server, 'listening')

const socket = net.connect({ host: '127.0.0.1', port: server.address().port, allowHalfOpen: true })
const client = new FramedConnection(socket, { decoder: new LineDecoder() })
await client.write([encodeLine('hello'), encodeLine('world')])
await client.end() // FIN after the writes; replies still arrive
for await (const reply of client.frames()) console.log(`reply: ${reply}`)
await closed
