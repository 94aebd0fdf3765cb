// oneline behind the balancer: every command is a request id, answered with one line of JSON.
// The server serves one client at a time; the others wait in its queue.
import { createServer } from '@proto/oneline'
import { answer, run } from './kit.mjs'

const server = createServer({
  handler: async (command, ctx) => JSON.stringify(await answer(command, ctx.remote)),
})
await run(server)
