// Observing a server through node:diagnostics_channel: a log line per connection and per call,
// with each call's duration, and a count of failures by code. Nothing is published while nobody
// subscribes, so this costs nothing until it is wanted. A client in the same process publishes
// too, so this example keeps `side === 'server'`.
//
// Prints:
//   listening on 127.0.0.1:<port>
//   open 127.0.0.1:<port>
//   POST add from 127.0.0.1:<port>: ok in <ms> ms
//   POST nosuch from 127.0.0.1:<port>: ok in <ms> ms
//   POST divide from 127.0.0.1:<port>: RangeError in <ms> ms
//   close 127.0.0.1:<port>
//   failures: {"RangeError":1}
import dc from 'node:diagnostics_channel'
import { connect, createServer } from '@proto/krpc'

const started = new WeakMap() // request info -> start time; the same object from start to end or error
const failures = {}
const peer = (remote) => `${remote.address}:${remote.port}`
const elapsed = (request) => (performance.now() - started.get(request)).toFixed(2)

dc.subscribe('proto:krpc:server:listening', ({ address }) => console.log(`listening on ${address.host}:${address.port}`))
dc.subscribe('proto:krpc:connection:open', ({ side, remote }) => {
  if (side === 'server') console.log(`open ${peer(remote)}`)
})
dc.subscribe('proto:krpc:connection:close', ({ side, remote, error }) => {
  if (side === 'server') console.log(`close ${peer(remote)}${error ? `: ${error.code}` : ''}`)
})
dc.subscribe('proto:krpc:request:start', ({ side, request }) => {
  if (side === 'server') started.set(request, performance.now())
})
// `request` is { verb, method }: the HTTP method and the KRPC method the call names.
dc.subscribe('proto:krpc:request:end', ({ side, remote, request }) => {
  if (side === 'server') console.log(`${request.verb} ${request.method} from ${peer(remote)}: ok in ${elapsed(request)} ms`)
})
dc.subscribe('proto:krpc:request:error', ({ side, remote, request, error }) => {
  if (side !== 'server') return
  // A method's own error as it threw it, or the package's error (with its `code`) for a bad request.
  const kind = error.code ?? error.name
  failures[kind] = (failures[kind] ?? 0) + 1
  console.log(`${request.verb} ${request.method} from ${peer(remote)}: ${kind} in ${elapsed(request)} ms`)
})

const server = createServer({
  handlers: {
    add: (a, b) => a + b,
    divide: (a, b) => {
      if (b === 0) throw new RangeError('division by zero')
      return a / b
    },
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ port })
await client.call('add', [1, 2])
// No such method: a reply like any other (-32601) for the server, a RemoteError for the client.
await client.call('nosuch').catch(() => {})
await client.call('divide', [1, 0]).catch(() => {}) // a method that throws: request:error
await client.close()
await server.close()
console.log(`failures: ${JSON.stringify(failures)}`)
