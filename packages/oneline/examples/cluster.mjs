// oneline in node:cluster workers sharing one port: one process per core, nothing shared between
// them. The command `whoami` is answered with the worker's pid and the client the server sees.
// Each worker serves one client at a time and queues the others: the rule is per process, so N
// workers serve N clients at once, and the primary hands each new connection to the next worker
// in turn, busy or not. Behind a balancer, see docs/scaling.md for a queue that knows which
// worker is free.
//
//   PORT=5001 WORKERS=2 node examples/cluster.mjs                   # clients connect directly
//   PORT=5001 PROXY_PROTOCOL=v2 node examples/cluster.mjs           # behind HAProxy with send-proxy-v2
//
// WORKERS defaults to the number of cores; HOST to 127.0.0.1. Each worker prints
// `worker <pid> listening on <host>:<port>`. SIGTERM or SIGINT to the primary closes every worker
// gracefully (requests already accepted are answered), and the primary exits once all have.
// With CHECK=1 the primary itself sends `whoami` until every worker has answered once, then
// closes them all and exits (PORT=0 then picks a free port for all the workers).
//
// Run: PORT=0 WORKERS=2 CHECK=1 node examples/cluster.mjs
//
// Prints:
//   worker <pid> answered whoami
//   worker <pid> answered whoami
//   every worker answered; closing
import cluster from 'node:cluster'
import { availableParallelism } from 'node:os'
import { connect, createServer } from '@proto/oneline'

const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 5001)
// 'v1', 'v2' or 'any' behind a balancer that sends the PROXY protocol; unset when clients
// connect directly.
const proxyProtocol = process.env.PROXY_PROTOCOL || undefined

if (cluster.isPrimary) {
  let stopping = false
  const workers = Number(process.env.WORKERS ?? availableParallelism())
  for (let i = 0; i < workers; i++) cluster.fork()
  const stop = () => {
    stopping = true
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  cluster.on('exit', (worker, code, signal) => {
    // A worker that dies on its own is replaced; its clients reconnect to the others meanwhile.
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${signal ?? code}), starting another`)
      cluster.fork()
    }
  })
  if (process.env.CHECK === '1') {
    // Each worker reports its address; the primary hands connections out in turn, so a few
    // more tries than workers reach them all.
    const listening = []
    cluster.on('message', (_worker, message) => {
      listening.push(message.listening)
      if (listening.length === workers) {
        check(listening[0]).catch((err) => {
          console.error(`check failed: ${err.message}`)
          process.exitCode = 1
          stop()
        })
      }
    })
    const check = async ({ host, port }) => {
      const answered = new Set()
      for (let i = 0; i < workers * 4 && answered.size < workers; i++) {
        const client = await connect({ host, port })
        const [reply] = await client.request('whoami')
        await client.close()
        const { pid } = JSON.parse(reply)
        if (!answered.has(pid)) console.log(`worker ${pid} answered whoami`)
        answered.add(pid)
      }
      console.log(answered.size === workers ? 'every worker answered; closing' : `only ${answered.size} of ${workers} workers answered`)
      process.exitCode = answered.size === workers ? 0 : 1
      stop()
    }
  }
} else {
  const server = createServer({
    handler: (command, ctx) => (command === 'whoami' ? JSON.stringify({ pid: process.pid, remote: ctx.remote }) : `unknown command ${command}`),
    // A client may not stop every worker's siblings through one worker.
    allowShutdown: false,
  })
  server.on('clientError', (err, peer) => {
    const from = peer.remote ?? peer // a connection, or a PeerInfo for a peer refused before one existed
    console.error(`worker ${process.pid}: client ${from.address}:${from.port}: ${err.message} (${err.code})`)
  })
  server.on('handlerError', (err) => console.error(`worker ${process.pid}: handler failed: ${err.message}`))
  const address = await server.listen({ host, port, proxyProtocol })
  console.log(`worker ${process.pid} listening on ${address.host}:${address.port}`)
  process.send?.({ listening: address })
  let closing = false
  const close = async () => {
    if (closing) return
    closing = true
    await server.close()
    process.exit(0)
  }
  // SIGINT from a terminal reaches every worker too; the primary sends SIGTERM.
  process.on('SIGTERM', close)
  process.on('SIGINT', close)
}
