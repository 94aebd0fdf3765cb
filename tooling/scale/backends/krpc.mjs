// krpc behind the balancer (HTTP mode): the method `whoami` answers a request id with the peer it
// was given, which a method reads from its context.
import { createServer, currentCall } from '@proto/krpc'
import { answer, run } from './kit.mjs'

const server = createServer({
  handlers: { whoami: (id) => answer(id, currentCall().remote) },
})
await run(server)
