// tej under node:cluster and with 10,000 idle connections, beside a raw node:net echo and ws:
// the adapter the shared harness (tooling/scale-bench) drives. Results: bench/README.md.
//   node bench/scale.mjs [--reps 5] [--only workers|idle] (see tooling/scale-bench)
import { Buffer } from 'node:buffer'
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import { runScaleBench } from '@proto/scale-bench'
import { connect, createServer } from '../dist/index.js'

const PAYLOAD = Buffer.alloc(64, 0x78)

export async function startServer({ port, maxConnections }) {
  // Every frame goes back as it came: a request/response exchange over full-duplex frames.
  const server = createServer({
    handler: async (frame, ctx) => ctx.connection.send(await frame.buffer()),
    limits: { maxConnections },
  })
  ;({ port } = await server.listen({ host: '127.0.0.1', port }))
  return { port, connections: () => server.connections.size }
}

export async function openClient({ port }) {
  const waiting = []
  const client = await connect({
    host: '127.0.0.1',
    port,
    handler: async (frame) => {
      if ((await frame.message()).length !== PAYLOAD.length) throw new Error('unexpected frame')
      waiting.shift()()
    },
  })
  return {
    call() {
      const echoed = new Promise((resolve) => waiting.push(resolve))
      return client.send({ status: 1, message: PAYLOAD }).then(() => echoed)
    },
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runScaleBench('@proto/tej', import.meta.url)
