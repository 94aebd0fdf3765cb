// korv under node:cluster and with 10,000 idle connections, beside a raw node:net echo and ws:
// the adapter the shared harness (tooling/scale-bench) drives. Results: bench/README.md.
//   node bench/scale.mjs [--reps 5] [--only workers|idle] (see tooling/scale-bench)
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import ssh2 from 'ssh2'
import { runScaleBench } from '@proto/scale-bench'
import { connect, createServer } from '../dist/index.js'

const BODY = { text: 'x'.repeat(64) }

function keyPair() {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519')
    if (!(ssh2.utils.parseKey(pair.public) instanceof Error) && !(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair
  }
}
// The harness's processes (cluster workers, load generator, idle clients) inherit the keys made
// by the first one.
process.env.KORV_SCALE_KEYS ??= JSON.stringify({ host: keyPair(), client: keyPair() })
const keys = JSON.parse(process.env.KORV_SCALE_KEYS)

export async function startServer({ port, maxConnections }) {
  const server = createServer({
    hostKeys: [keys.host.private],
    authorizedKeys: `${keys.client.public}\n`,
    handlers: { GET: { '/echo': (request) => ({ code: 200, body: request.body }) } },
    limits: { maxConnections },
  })
  ;({ port } = await server.listen({ host: '127.0.0.1', port }))
  return { port, connections: () => server.connections.size }
}

/** An authenticated SSH connection with no channel open. */
export function openIdle({ port }) {
  return connect({ host: '127.0.0.1', port, privateKey: keys.client.private, insecureAcceptAnyHostKey: true })
}

export async function openClient({ port }) {
  const client = await openIdle({ port })
  return {
    async call() {
      if ((await client.get('/echo', BODY)).body.text !== BODY.text) throw new Error('unexpected reply')
    },
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runScaleBench('@proto/korv', import.meta.url)
