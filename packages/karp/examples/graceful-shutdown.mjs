// Graceful shutdown: on SIGTERM the server stops accepting, lets the handlers that run finish and
// their replies go out, answers requests that arrive meanwhile with a failure, then ends every
// connection; a deadline cuts what is still open after it. The example sends itself SIGTERM while
// a request is being handled.
//
// Prints:
//   handler started
//   SIGTERM: closing the server
//   sent while closing: closing (ERR_KARP_REMOTE)
//   reply: finished
//   client connection closed
//   server closed
import { once } from 'node:events'
import { connect, createServer } from '@proto/karp'

// Promise.withResolvers() from Node 22 on.
const deferred = () => {
  let resolve
  const promise = new Promise((done) => (resolve = done))
  return { promise, resolve }
}
// The slow handler's work: it ends when the example says so, once the server is closing.
const work = deferred()
const handlerStarted = deferred()
const server = createServer({
  handlers: {
    slow: async (request, ctx) => {
      handlerStarted.resolve()
      // ctx.signal aborts when the connection is cut before the work is done.
      await Promise.race([work.promise, once(ctx.signal, 'abort')])
      return 'finished'
    },
    quick: () => 'quick',
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })

process.once('SIGTERM', async () => {
  console.log('SIGTERM: closing the server')
  // Past 10 s, connections still open are cut and running handlers see ctx.signal abort.
  await server.close({ signal: AbortSignal.timeout(10_000) })
  console.log('server closed')
})

const client = await connect({ host: '127.0.0.1', port })
// The server ends the connection once its handlers are done; the client's end follows.
void client.closed.then(() => console.log('client connection closed'))
const slow = client.request('slow')
await handlerStarted.promise
console.log('handler started')

process.kill(process.pid, 'SIGTERM')
await once(process, 'SIGTERM')
try {
  await client.request('quick')
} catch (err) {
  console.log(`sent while closing: ${err.message} (${err.code})`)
}
work.resolve()
console.log(`reply: ${(await slow).text()}`)
