// Deadlines and cancellation: a send's `timeout`, an AbortSignal, `connectTimeout` against a peer
// that never finishes its TLS handshake, and the server's `limits.idleTimeout` for a peer that goes
// silent. A deadline rejects with TejTimeoutError (code ERR_TEJ_TIMEOUT, name TimeoutError); an
// abort rejects with the signal's reason. send() resolves once its frame is written, so what it
// waits for is a peer that reads: this server stops reading while a job's file is unread.
//
// Prints:
//   sending a frame with status 1 timed out after 200 ms (ERR_TEJ_TIMEOUT, TimeoutError)
//   aborted before its first byte: Error: the user went away
//   server: client 127.0.0.1:<port>: <message> (ERR_TEJ_TRUNCATED)
//   the large frame was written once the server read it; the connection stays open
//   connect to 127.0.0.1:<port> timed out after 200 ms (ERR_TEJ_TIMEOUT)
//   server: client 127.0.0.1:<port>: <message> (ERR_TEJ_IDLE_TIMEOUT)
import { once } from 'node:events'
import net from 'node:net'
import { connect, createServer } from '@proto/tej'

// The server holds each job's file unread until the example lets it go; while a file waits
// unread, its connection is not read either, so the sender's writes stop.
let release
const released = new Promise((resolve) => (release = resolve))
const server = createServer({
  // What a handler leaves unread of its frame is skipped once it returns.
  handler: async (frame, ctx) => {
    await Promise.race([released, once(ctx.signal, 'abort')])
  },
  limits: { idleTimeout: 1_000 }, // close connections that send nothing for 1 s
})
// A peer refused or closed for what it sent (or failed to send in time) is reported here.
const clientError = async () => {
  const [err, peer] = await once(server, 'clientError')
  const { address, port } = peer.remote ?? peer // a connection, or a PeerInfo for a refused peer
  console.log(`server: client ${address}:${port}: ${err.message} (${err.code})`)
}
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })

// 64 MiB, more than the socket buffers between the two ends hold, from one reused 1 MiB chunk.
const large = (status) => {
  const chunk = new Uint8Array(1024 * 1024)
  async function* chunks() {
    for (let i = 0; i < 64; i++) yield chunk
  }
  return { status, files: [{ name: 'large.bin', stream: chunks(), size: 64 * chunk.length }] }
}
const show = (err) => console.log(`${err.message} (${err.code}, ${err.name})`)

// 1. One send's deadline (`timeout` in connect()'s options sets one for every send). Past its first byte the connection is destroyed, since a half-written
// frame cannot be completed: the server sees the frame cut short once it reads again.
const first = await connect({ host: '127.0.0.1', port })
await first.send(large(1), { timeout: 200 }).catch(show)

// 2. Cancelled by the caller: any AbortSignal. Sends are queued; one aborted before its first
// byte only leaves the queue, and the connection carries on.
const second = await connect({ host: '127.0.0.1', port })
const writing = second.send(large(2))
const controller = new AbortController()
const queued = second.send({ status: 3, message: 'never sent' }, { signal: controller.signal })
controller.abort(new Error('the user went away'))
await queued.catch((reason) => console.log(`aborted before its first byte: ${reason}`))
const truncated = clientError()
release() // the server reads again: the first frame ends short, the second arrives whole
await truncated
await writing
console.log('the large frame was written once the server read it; the connection stays open')
await second.close()

// 3. connectTimeout bounds the connection, TLS handshake included: this peer accepts and stays silent.
const silent = net.createServer(() => {})
await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve))
await connect({ host: '127.0.0.1', port: silent.address().port, tls: true, connectTimeout: 200 }).catch((err) =>
  console.log(`${err.message} (${err.code})`),
)
silent.close()

// 4. The server's idleTimeout: a peer that sends nothing for 1 s is closed.
const idleClosed = clientError()
const idle = await connect({ host: '127.0.0.1', port })
await idleClosed
await idle.closed
await server.close()
