// The quick start: a server and a client in one process. Both ends of a karp connection serve
// routes, so the server asks the client something too; a handler's failure reaches the caller as
// a RemoteError.
//
// Prints:
//   HELLO
//   a client
//   failed: no such user (ERR_KARP_REMOTE)
import { connect, createServer } from '@proto/karp'

const server = createServer({
  handlers: {
    upper: (request) => request.text.toUpperCase(),
    user: () => {
      // Only an error marked `expose: true` sends its message; any other sends `internal error`.
      throw Object.assign(new Error('no such user'), { expose: true })
    },
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })

const client = await connect({ host: '127.0.0.1', port, handlers: { whoami: () => 'a client' } })
console.log((await client.request('upper', 'hello')).text()) // HELLO

const [connection] = server.connections // the server's end of the same connection
console.log((await connection.request('whoami')).text()) // a client: either end asks

try {
  await client.request('user', 'nobody')
} catch (err) {
  console.log(`failed: ${err.message} (${err.code})`) // the peer answered with a failure: RemoteError
}

await client.notify('upper', 'no reply wanted') // resolves once queued for writing
await client.close() // waits for pending requests and running handlers, then ends
await server.close()
