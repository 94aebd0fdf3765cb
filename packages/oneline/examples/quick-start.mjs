// Quick start: a oneline server and a client in one process. The server answers `time` with the
// time and any other command with two lines; the client asks both, then both close.
//
// Prints:
//   [ '<time>' ]
//   [ 'you said hello', 'over' ]
import { connect, createServer } from '@proto/oneline'

const server = createServer({
  handler: (command) => (command === 'time' ? new Date().toISOString() : [`you said ${command}`, 'over']),
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })

const client = await connect({ host: '127.0.0.1', port }) // sends ping, waits for pong
console.log(await client.request('time')) // one line by default
console.log(await client.request('hello', { lines: 2 }))
await client.close() // sends disconnect, waits for the server to close
await server.close()
