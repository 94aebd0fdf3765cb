// Deadlines and cancellation: a call's `timeout`, an AbortSignal, a client's default timeout,
// `connectTimeout` against a peer that never finishes its TLS handshake, and the server's
// `limits.bodyTimeout` for an upload that stalls. A deadline rejects with KrpcTimeoutError (code
// ERR_KRPC_TIMEOUT, name TimeoutError); an abort rejects with the signal's reason. When a caller
// gives up, the connection goes, and the method's call signal aborts on the server.
//
// Prints:
//   call 'slow' timed out after 100 ms (ERR_KRPC_TIMEOUT, TimeoutError)
//   server: slow stopped: the caller went away
//   aborted: Error: the user went away
//   call 'slow' timed out after 150 ms (ERR_KRPC_TIMEOUT, TimeoutError)
//   connect to 127.0.0.1:<port> timed out after 200 ms (ERR_KRPC_TIMEOUT)
//   stalled upload: Request timeout. (ERR_KRPC_REMOTE, -32007)
import net from 'node:net'
import { Readable } from 'node:stream'
import { connect, createServer, currentCall } from '@proto/krpc'

let firstStopped
const stopped = new Promise((resolve) => (firstStopped = resolve))
const server = createServer({
  handlers: {
    // Slower than every deadline below; it stops when its call's signal aborts.
    slow: () => {
      const { signal } = currentCall()
      return new Promise((resolve, reject) => {
        signal.addEventListener('abort', () => {
          firstStopped()
          reject(signal.reason)
        })
      })
    },
    size: async (file) => {
      let size = 0
      for await (const chunk of file) size += chunk.length
      return size
    },
  },
  limits: { bodyTimeout: 300 }, // an upload that sends nothing for 300 ms is answered -32007
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ port })
const show = (err) => console.log(`${err.message} (${err.code}, ${err.name})`)

// 1. One call's deadline, up to the reply's headers.
await client.call('slow', [], { timeout: 100 }).catch(show)
await stopped // the timed-out call's connection is closed, and the server sees it
console.log('server: slow stopped: the caller went away')

// 2. Cancelled by the caller: any AbortSignal, here from an AbortController.
const controller = new AbortController()
const pending = client.call('slow', [], { signal: controller.signal })
controller.abort(new Error('the user went away'))
await pending.catch((reason) => console.log(`aborted: ${reason}`))

// 3. A default deadline for every call of a client: `timeout` in connect()'s options.
const impatient = await connect({ port, timeout: 150 })
await impatient.call('slow').catch(show)

// 4. connectTimeout bounds the connection, TLS handshake included: this peer accepts and stays silent.
const silent = net.createServer(() => {})
await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve))
const tls = await connect({ url: `https://127.0.0.1:${silent.address().port}`, connectTimeout: 200 })
await tls.call('anything').catch((err) => console.log(`${err.message} (${err.code})`))
silent.close()

// 5. The server's bodyTimeout: a file that stops sending. The method's stream errors, the server
// answers -32007 and closes the connection.
const stalled = new Readable({ read() {} })
stalled.push('a first chunk, then nothing')
await client.call('size', [stalled]).catch((err) => console.log(`stalled upload: ${err.message} (${err.code}, ${err.rpcCode})`))

await Promise.all([client.close(), impatient.close(), tls.close()])
await server.close()
