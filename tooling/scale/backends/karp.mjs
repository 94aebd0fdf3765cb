// karp behind the balancer: the route `whoami` answers a request id with the peer it was given.
import { createServer } from '@proto/karp'
import { answer, run } from './kit.mjs'

const server = createServer({
  handlers: { whoami: async (request, ctx) => JSON.stringify(await answer(request.text, ctx.remote)) },
})
await run(server)
