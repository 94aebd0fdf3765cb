// krpc under node:cluster and with 10,000 idle connections, beside a raw node:net echo and ws:
// the adapter the shared harness (tooling/scale-bench) drives. Results: bench/README.md.
//   node bench/scale.mjs [--reps 5] [--only workers|idle] (see tooling/scale-bench)
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import { runScaleBench } from '@proto/scale-bench'
import { connect, createServer } from '../dist/index.js'

const PARAM = 'x'.repeat(64)

export async function startServer({ port, maxConnections }) {
  const server = createServer({ methods: { echo: (x) => x }, limits: { maxConnections } })
  ;({ port } = await server.listen({ host: '127.0.0.1', port }))
  return { port, connections: () => undefined }
}

export async function openClient({ port }) {
  // One client per connection of the load: its agent opens a socket per call in flight.
  const client = await connect({ host: '127.0.0.1', port })
  return {
    async call() {
      if ((await client.call('echo', [PARAM])) !== PARAM) throw new Error('unexpected reply')
    },
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runScaleBench('@proto/krpc', import.meta.url)
