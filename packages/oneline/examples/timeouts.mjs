// Deadlines and cancellation: every call that waits takes `{ timeout, signal }`. A deadline
// rejects with ERR_ONELINE_TIMEOUT, an abort with the signal's reason, and the connection stays
// usable: a late reply is dropped, later requests stay in step. A client queued behind another
// waits for its turn within its `timeout` too.
//
// Prints:
//   timeout: ERR_ONELINE_TIMEOUT request 'slow' to 127.0.0.1:<port> timed out after 100 ms
//   abort: user gave up
//   still in step: [ 'fast' ]
//   queued client: ERR_ONELINE_TIMEOUT <message>
import { setTimeout as sleep } from 'node:timers/promises'
import { connect, createServer } from '@proto/oneline'

const server = createServer({
  handler: async (command, ctx) => {
    // A handler that waits should stop when its client goes: ctx.signal aborts then.
    if (command === 'slow') await sleep(300, undefined, { signal: ctx.signal })
    return command
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ host: '127.0.0.1', port, timeout: 3000 })

try {
  await client.request('slow', { timeout: 100 })
} catch (err) {
  console.log(`timeout: ${err.code} ${err.message}`)
}

const controller = new AbortController()
const pending = client.request('slow', { signal: controller.signal })
controller.abort(new Error('user gave up'))
try {
  await pending
} catch (err) {
  console.log(`abort: ${err.message}`)
}

console.log('still in step:', await client.request('fast'))

// The server serves one client at a time: this one waits in the queue and gives up.
try {
  await connect({ host: '127.0.0.1', port, timeout: 200 })
} catch (err) {
  console.log(`queued client: ${err.code} ${err.message}`)
}

await client.close()
await server.close()
