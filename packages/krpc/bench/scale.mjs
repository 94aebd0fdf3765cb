// krpc under node:cluster and with 10,000 idle connections, beside a raw node:net echo and ws:
// the adapter the shared harness (tooling/scale-bench) drives. Results: bench/README.md.
//   node bench/scale.mjs [--reps 5] [--only workers|idle] (see tooling/scale-bench)
import { once } from 'node:events'
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import { openTcp, runScaleBench } from '@proto/scale-bench'
import { connect, createServer } from '../dist/index.js'

const PARAM = 'x'.repeat(64)
// A GET call (the call form-encoded in the query), the smallest request a kept-alive connection makes.
const GET_ECHO = `GET /?json=${encodeURIComponent(JSON.stringify({ method: 'echo', params: ['x'] }))} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`

export async function startServer({ port, maxConnections }) {
  // idleTimeout 0: a kept-alive connection stays open until its client leaves.
  const server = createServer({ handlers: { echo: (x) => x }, limits: { maxConnections, idleTimeout: 0 } })
  ;({ port } = await server.listen({ host: '127.0.0.1', port }))
  return { port, connections: () => server.connections.size }
}

/** A kept-alive HTTP connection after one call, as a client's agent keeps it between calls. */
export async function openIdle({ port }) {
  const socket = await openTcp({ port })
  socket.write(GET_ECHO)
  const [reply] = await once(socket, 'data')
  if (!reply.toString('latin1').startsWith('HTTP/1.1 200')) throw new Error('unexpected reply')
  return socket
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
