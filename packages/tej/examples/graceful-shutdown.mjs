// Graceful shutdown: on SIGTERM the server stops accepting, lets the handler that runs finish and
// its answer go out, then ends every connection; a deadline cuts what is still open after it. TEJ
// has no error reply, so a frame that arrives while the server closes is discarded unanswered. The
// example sends itself SIGTERM while a frame is being handled.
//
// Prints:
//   server: handling job 1
//   SIGTERM: closing the server
//   client: sent job 2 while the server closes
//   server: job 1 done
//   client: answer: job 1 done
//   client: connection closed, 1 answer of 2
//   server: closed
import { once } from 'node:events'
import { connect, createServer } from '@proto/tej'

// Promise.withResolvers() from Node 22 on.
const deferred = () => {
  let resolve
  const promise = new Promise((done) => (resolve = done))
  return { promise, resolve }
}
// The job's work: it ends when the example says so, once the server is closing.
const work = deferred()
const started = deferred()
const server = createServer({
  handler: async (frame, ctx) => {
    const job = Buffer.from(await frame.message()).toString()
    console.log(`server: handling ${job}`)
    started.resolve()
    // ctx.signal aborts if the connection is cut before the work is done.
    await Promise.race([work.promise, once(ctx.signal, 'abort')])
    console.log(`server: ${job} done`)
    await ctx.connection.send({ message: `${job} done` })
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })

let closing
process.once('SIGTERM', () => {
  console.log('SIGTERM: closing the server')
  // Past 10 s, connections still open are cut and running handlers see ctx.signal abort.
  closing = server.close({ signal: AbortSignal.timeout(10_000) })
})

const client = await connect({ host: '127.0.0.1', port })
await client.send({ message: 'job 1' })
await started.promise

process.kill(process.pid, 'SIGTERM')
await once(process, 'SIGTERM')
await client.send({ message: 'job 2' }) // written, but the closing server takes no new frame
console.log('client: sent job 2 while the server closes')
work.resolve()

// The server ends the connection once its handler is done; the client's iteration ends with it.
let answers = 0
for await (const frame of client) {
  answers++
  console.log(`client: answer: ${Buffer.from(await frame.message()).toString()}`)
}
await client.closed
console.log(`client: connection closed, ${answers} answer of 2`)
await closing
console.log('server: closed')
