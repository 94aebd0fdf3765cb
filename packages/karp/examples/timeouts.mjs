// Deadlines and cancellation: a request's `timeout`, an AbortSignal, the connection's default
// timeout, `connectTimeout` against a peer that never finishes its TLS handshake, and the server's
// `limits.idleTimeout` for a peer that goes silent. A deadline rejects with KarpTimeoutError
// (code ERR_KARP_TIMEOUT, name TimeoutError); an abort rejects with the signal's reason.
//
// Prints:
//   request 'slow' timed out after 100 ms (ERR_KARP_TIMEOUT, TimeoutError)
//   aborted: Error: the user went away
//   request 'slow' timed out after 150 ms (ERR_KARP_TIMEOUT, TimeoutError)
//   connect to 127.0.0.1:<port> timed out after 200 ms (ERR_KARP_TIMEOUT)
//   server: client 127.0.0.1:<port> dropped: <message> (ERR_KARP_IDLE_TIMEOUT)
import net from 'node:net'
import { connect, createServer } from '@proto/karp'

// A handler slower than every deadline below: it answers once the example lets it. KARP has no
// cancel frame, so a handler runs on after its caller gave up; ctx.signal aborts only when the
// connection goes.
let finishWork
const work = new Promise((resolve) => (finishWork = resolve))
const server = createServer({
  handlers: { slow: () => work },
  limits: { idleTimeout: 300 }, // close connections silent for 300 ms with nothing in flight
})
server.on('clientError', (err, peer) => {
  const { address, port } = peer.remote ?? peer // a connection, or a PeerInfo for a refused peer
  console.log(`server: client ${address}:${port} dropped: ${err.message} (${err.code})`)
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ host: '127.0.0.1', port })

const show = (err) => console.log(`${err.message} (${err.code}, ${err.name})`)

// 1. One request's deadline.
await client.request('slow', '', { timeout: 100 }).catch(show)

// 2. Cancelled by the caller: any AbortSignal, here from an AbortController.
const controller = new AbortController()
const pending = client.request('slow', '', { signal: controller.signal })
controller.abort(new Error('the user went away'))
await pending.catch((reason) => console.log(`aborted: ${reason}`))

// 3. A default deadline for every call on a connection: `timeout` in connect()'s options.
const impatient = await connect({ host: '127.0.0.1', port, timeout: 150 })
await impatient.request('slow').catch(show)

// 4. connectTimeout bounds the connection, TLS handshake included: this peer accepts and stays silent.
const silent = net.createServer(() => {})
await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve))
await connect({ host: '127.0.0.1', port: silent.address().port, tls: true, connectTimeout: 200 }).catch((err) =>
  console.log(`${err.message} (${err.code})`),
)
silent.close()

finishWork()
await Promise.all([client.close(), impatient.close()])

// 5. The server's idleTimeout: a peer that sends nothing for 300 ms with nothing in flight is closed.
const idle = await connect({ host: '127.0.0.1', port })
await idle.closed
await server.close()
