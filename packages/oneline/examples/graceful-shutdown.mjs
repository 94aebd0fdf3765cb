// Graceful shutdown: on SIGTERM the server stops accepting, lets the command being handled finish
// and send its reply, then closes its clients; a deadline forces the rest if a handler hangs.
// The example sends itself SIGTERM while a slow command runs, so it ends on its own.
//
// Prints:
//   SIGTERM: closing, the running command finishes first
//   reply: work done
//   server closed
//   new connection: ERR_ONELINE_CONNECT
import { setTimeout as sleep } from 'node:timers/promises'
import { connect, createServer } from '@proto/oneline'

let started
const handlerStarted = new Promise((resolve) => (started = resolve))
const server = createServer({
  handler: async (command) => {
    started()
    await sleep(200)
    return `${command} done`
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })

const stopped = new Promise((resolve) => {
  process.once('SIGTERM', async () => {
    console.log('SIGTERM: closing, the running command finishes first')
    // Clients still connected after 5 s are cut.
    await server.close({ signal: AbortSignal.timeout(5000) })
    console.log('server closed')
    resolve()
  })
})

const client = await connect({ host: '127.0.0.1', port })
const reply = client.request('work')
await handlerStarted
process.kill(process.pid, 'SIGTERM')
console.log(`reply: ${await reply}`)
await client.closed // the server ends the connection once the reply is out
await stopped

try {
  await connect({ host: '127.0.0.1', port })
} catch (err) {
  console.log(`new connection: ${err.code}`)
}
