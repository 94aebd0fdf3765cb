// Graceful shutdown: on SIGTERM the server stops accepting, closes idle connections at once, and
// lets the calls in progress finish and their replies go out; a deadline cuts what is still open
// after it, and the methods still running see their call's signal abort. The example sends itself
// SIGTERM while a call is running.
//
// Prints:
//   method started
//   SIGTERM: closing the server
//   called while closing: <message> (ERR_KRPC_CONNECT)
//   reply: finished
//   server closed
import { once } from 'node:events'
import { connect, createServer, currentCall } from '@proto/krpc'

// Promise.withResolvers() from Node 22 on.
const deferred = () => {
  let resolve
  const promise = new Promise((done) => (resolve = done))
  return { promise, resolve }
}
// The slow method's work: it ends when the example says so, once the server is closing.
const work = deferred()
const methodStarted = deferred()
const server = createServer({
  handlers: {
    slow: async () => {
      methodStarted.resolve()
      // The call's signal aborts when the client goes away or the close deadline passes.
      const { signal } = currentCall()
      await Promise.race([work.promise, once(signal, 'abort')])
      return 'finished'
    },
    quick: () => 'quick',
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })

let closed
process.once('SIGTERM', () => {
  console.log('SIGTERM: closing the server')
  // Past 10 s, connections still open are cut and running methods see their signal abort.
  closed = server.close({ signal: AbortSignal.timeout(10_000) })
})

const client = await connect({ port })
const slow = client.call('slow')
await methodStarted.promise
console.log('method started')

process.kill(process.pid, 'SIGTERM')
await once(process, 'SIGTERM')
try {
  // The one connection is busy with `slow`, so this call needs another, which nobody accepts now.
  await client.call('quick')
} catch (err) {
  console.log(`called while closing: ${err.message} (${err.code})`)
}
work.resolve()
console.log(`reply: ${await slow}`)
await closed // resolves once the last reply is out and every connection has ended
console.log('server closed')
await client.close()
