// tej behind the balancer: a frame's message is a request id, answered with a frame whose message
// is the JSON answer.
import { createServer } from '@proto/tej'
import { answer, run } from './kit.mjs'

const server = createServer({
  handler: async (frame, ctx) => {
    const id = Buffer.from(await frame.message()).toString('utf8')
    await ctx.connection.send({ message: JSON.stringify(await answer(id, ctx.remote)) })
  },
})
await run(server)
