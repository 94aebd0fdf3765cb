// oneline under node:cluster and with 10,000 idle connections, beside a raw node:net echo and ws:
// the adapter the shared harness (tooling/scale-bench) drives. Results: bench/README.md.
//   node bench/scale.mjs [--reps 5] [--only workers|idle] (see tooling/scale-bench)
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import { runScaleBench } from '@proto/scale-bench'
import { connect, createServer, demoHandler } from '../dist/index.js'

export async function startServer({ port, maxConnections }) {
  // One client is served at a time; every other connection waits its turn in the queue.
  const server = createServer({ handler: demoHandler, limits: { maxConnections, maxQueue: maxConnections } })
  ;({ port } = await server.listen({ host: '127.0.0.1', port }))
  return { port, connections: () => server.connections.size }
}

export async function openClient({ port }) {
  // A client waiting its turn must outlast the run rather than time out.
  const client = await connect({ host: '127.0.0.1', port, timeout: 3_600_000 })
  return {
    async call() {
      const [line] = await client.request('echo hello')
      if (line !== 'hello') throw new Error(`unexpected reply ${line}`)
    },
  }
}

// Two clients, one call at a time each: one worker serves one of them and keeps the other
// waiting; two workers serve both.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runScaleBench('@proto/oneline', import.meta.url, { load: { connections: 2, depth: 1 } })
}
