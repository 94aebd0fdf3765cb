// Observing a server through node:diagnostics_channel: each connection and each command is
// published on `proto:oneline:*` channels, for both sides; nothing is built while nobody
// subscribes. Here a subscriber logs the server side of one client's session, from the `ping`
// of its connect.
//
// Prints:
//   listening on 127.0.0.1:<port>
//   open 127.0.0.1:<port>
//   start ping
//   end ping
//   start echo hi
//   end echo hi
//   start boom
//   error boom: handler failed
//   handlerError: handler failed
//   close 127.0.0.1:<port>
import dc from 'node:diagnostics_channel'
import { connect, createServer } from '@proto/oneline'

const log = (name, format) =>
  dc.subscribe(`proto:oneline:${name}`, (message) => {
    if (message.side === 'server') console.log(format(message))
  })
log('server:listening', ({ address }) => `listening on ${address.host}:${address.port}`)
log('connection:open', ({ remote }) => `open ${remote.address}:${remote.port}`)
log('request:start', ({ request }) => `start ${request.command}`)
log('request:end', ({ request }) => `end ${request.command}`)
log('request:error', ({ request, error }) => `error ${request.command}: ${error.message}`)
log('connection:close', ({ remote }) => `close ${remote.address}:${remote.port}`)

const server = createServer({
  handler: (command) => {
    if (command === 'boom') throw new Error('handler failed')
    return command.replace(/^echo /, '')
  },
})
// A handler's failure is also an event; the server closes that client.
server.on('handlerError', (err) => console.log(`handlerError: ${err.message}`))
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ host: '127.0.0.1', port })
await client.request('echo hi')
await client.send('boom')
await client.closed
await server.close()
