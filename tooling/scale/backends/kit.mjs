// What every backend shares: it reports to the test as JSON lines on stdout and takes the test's
// commands as words on stdin. `node backends/<protocol>.mjs NAME` serves on 127.0.0.1, a free
// port, with PROXY protocol v2 on; its handler answers each request (an id) with
// `{ backend, id, remote }`, the peer it was given.
//
// Events: `listening { port }`, `request { id, remote }` (a request was accepted: its handler
// runs), `clientError { code, message }`, `closed` (server.close() resolved).
// Commands: `hold` (from now on a request waits in its handler until `close`, so some are
// accepted and unanswered when the server closes), `close` (server.close(), then exit).
import { createInterface } from 'node:readline'

export const name = process.argv[2] ?? 'backend'

/** Writes one event; a write to a pipe is synchronous on Linux, so events are never lost at exit. */
export function report(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`)
}

let hold = false
let releaseHeld = () => {}
const released = new Promise((resolve) => {
  releaseHeld = resolve
})

/**
 * The body of every handler: reports the request as accepted, waits while the test holds
 * requests, and returns the answer the client checks.
 */
export async function answer(id, remote) {
  const peer = { address: remote.address, port: remote.port }
  report('request', { id, remote: peer })
  if (hold) await released
  return { backend: name, id, remote: peer }
}

/**
 * Listens with `server.listen({ host, port, proxyProtocol })`, reports, and obeys the commands.
 * `server` is any @proto server: `listen`, `close` and the `clientError` event.
 */
export async function run(server) {
  server.on('clientError', (err) => report('clientError', { code: err.code, message: err.message }))
  const { port } = await server.listen({ host: '127.0.0.1', port: 0, proxyProtocol: 'v2' })
  report('listening', { port })
  const commands = createInterface({ input: process.stdin })
  for await (const command of commands) {
    if (command === 'hold') {
      hold = true
      report('holding')
    } else if (command === 'close') {
      const closing = server.close()
      // Released once close() has begun: the held requests are answered while the server drains.
      releaseHeld()
      await closing
      report('closed')
      break
    }
  }
  commands.close()
  process.stdin.destroy()
}
