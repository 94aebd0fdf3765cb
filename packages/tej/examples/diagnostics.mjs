// Observing a server through node:diagnostics_channel: a log line per connection and per frame
// with its duration (a received frame from its head arriving to its handler settling, a sent one
// from its first byte to its last, so a handler's answer ends before the frame it answers), and a
// count of failures. Nothing is published while nobody subscribes, so this costs nothing until it
// is wanted. Both ends of a connection in one process publish, so this example keeps
// `side === 'server'`.
//
// Prints:
//   listening on 127.0.0.1:<port>
//   open 127.0.0.1:<port>
//   sent status 1 with 0 files to 127.0.0.1:<port>: ok in <ms> ms
//   received status 1 with 1 file from 127.0.0.1:<port>: ok in <ms> ms
//   received status 7 with 0 files from 127.0.0.1:<port>: failed in <ms> ms: handler failed
//   close 127.0.0.1:<port>
//   failures: {"handler failed":1}
import dc from 'node:diagnostics_channel'
import { once } from 'node:events'
import { connect, createServer } from '@proto/tej'

const started = new WeakMap() // frame info -> start time; the same object from start to end or error
const failures = {}
const peer = (remote) => `${remote.address}:${remote.port}`
const elapsed = (request) => (performance.now() - started.get(request)).toFixed(2)
const describe = ({ direction, status, fileCount }, remote) =>
  `${direction} status ${status} with ${fileCount} file${fileCount === 1 ? '' : 's'} ${direction === 'received' ? 'from' : 'to'} ${peer(remote)}`

dc.subscribe('proto:tej:server:listening', ({ address }) => console.log(`listening on ${address.host}:${address.port}`))
dc.subscribe('proto:tej:connection:open', ({ side, remote }) => {
  if (side === 'server') console.log(`open ${peer(remote)}`)
})
dc.subscribe('proto:tej:connection:close', ({ side, remote, error }) => {
  if (side === 'server') console.log(`close ${peer(remote)}${error ? `: ${error.code}` : ''}`)
})
dc.subscribe('proto:tej:request:start', ({ side, request }) => {
  if (side === 'server') started.set(request, performance.now())
})
dc.subscribe('proto:tej:request:end', ({ side, remote, request }) => {
  if (side === 'server') console.log(`${describe(request, remote)}: ok in ${elapsed(request)} ms`)
})
dc.subscribe('proto:tej:request:error', ({ side, remote, request, error }) => {
  if (side !== 'server') return
  const what = error.code ?? error.message // a handler's own error may have no code
  failures[what] = (failures[what] ?? 0) + 1
  console.log(`${describe(request, remote)}: failed in ${elapsed(request)} ms: ${what}`)
})

const server = createServer({
  handler: async (frame, ctx) => {
    if (frame.status === 7) throw new Error('handler failed') // reported, and the connection stays
    await frame.buffer()
    await ctx.connection.send({ status: frame.status, message: 'stored' })
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ host: '127.0.0.1', port })
await client.send({ status: 1, files: [{ name: 'a.txt', data: 'some text' }] })
for await (const frame of client) {
  await frame.message() // the server's answer: it was handled and sent back before this arrives
  break
}
// A handler's error is also an event, with the error in full; TEJ has no way to tell the peer.
const handlerError = once(server, 'handlerError')
await client.send({ status: 7 })
await handlerError
await client.close() // the server ends its side once it has handled what it received
await server.close()
console.log(`failures: ${JSON.stringify(failures)}`)
