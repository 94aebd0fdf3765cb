// Observing a server through node:diagnostics_channel: a log line per connection and per request,
// with each request's duration, and a count of failures by code. Nothing is published while nobody
// subscribes, so this costs nothing until it is wanted. Both ends of a connection in one process
// publish, so this example keeps `side === 'server'`.
//
// Prints:
//   listening on 127.0.0.1:<port>
//   open 127.0.0.1:<port>
//   upper from 127.0.0.1:<port>: ok in <ms> ms
//   nosuch from 127.0.0.1:<port>: ERR_KARP_UNKNOWN_ROUTE in <ms> ms
//   close 127.0.0.1:<port>
//   failures: {"ERR_KARP_UNKNOWN_ROUTE":1}
import dc from 'node:diagnostics_channel'
import { connect, createServer } from '@proto/karp'

const started = new WeakMap() // request info -> start time; the same object from start to end or error
const failures = {}
const peer = (remote) => `${remote.address}:${remote.port}`
const elapsed = (request) => (performance.now() - started.get(request)).toFixed(2)

dc.subscribe('proto:karp:server:listening', ({ address }) => console.log(`listening on ${address.host}:${address.port}`))
dc.subscribe('proto:karp:connection:open', ({ side, remote }) => {
  if (side === 'server') console.log(`open ${peer(remote)}`)
})
dc.subscribe('proto:karp:connection:close', ({ side, remote, error }) => {
  if (side === 'server') console.log(`close ${peer(remote)}${error ? `: ${error.code}` : ''}`)
})
dc.subscribe('proto:karp:request:start', ({ side, request }) => {
  if (side === 'server') started.set(request, performance.now())
})
dc.subscribe('proto:karp:request:end', ({ side, remote, request }) => {
  if (side === 'server') console.log(`${request.route} from ${peer(remote)}: ok in ${elapsed(request)} ms`)
})
dc.subscribe('proto:karp:request:error', ({ side, remote, request, error }) => {
  if (side !== 'server') return
  failures[error.code] = (failures[error.code] ?? 0) + 1
  console.log(`${request.route} from ${peer(remote)}: ${error.code} in ${elapsed(request)} ms`)
})

const server = createServer({ handlers: { upper: (request) => request.text.toUpperCase() } })
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ host: '127.0.0.1', port })
await client.request('upper', 'hello')
await client.request('nosuch').catch(() => {}) // no such route: the server answers with a failure
await client.close()
await server.close()
console.log(`failures: ${JSON.stringify(failures)}`)
