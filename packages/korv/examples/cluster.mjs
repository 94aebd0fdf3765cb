// korv in node:cluster workers sharing one port: one process per core, nothing shared between them.
// `GET /whoami` answers with the worker's pid, the client the server sees and the key it logged in
// with. HOST_KEY and AUTHORIZED_KEYS name the key files; every worker reads them, so every worker
// shows clients the same host key. Without them the primary makes throwaway keys with `ssh-keygen`
// (OpenSSH) in a temporary directory and prints where; its client_key logs in. Behind a balancer, a
// `from="..."` option in authorized_keys is matched against the PROXY header's client, not the
// balancer.
//
//   PORT=8022 WORKERS=2 node examples/cluster.mjs                   # clients connect directly
//   PORT=8022 PROXY_PROTOCOL=v2 node examples/cluster.mjs           # behind HAProxy with send-proxy-v2
//   HOST_KEY=/etc/korv/host_key AUTHORIZED_KEYS=/etc/korv/authorized_keys node examples/cluster.mjs
//
// WORKERS defaults to the number of cores; HOST to 127.0.0.1. Each worker prints
// `worker <pid> listening on <host>:<port>`. SIGTERM or SIGINT to the primary closes every worker
// gracefully (requests already accepted are answered), and the primary exits once all have.
// With CHECK=1 the primary itself logs in (with CLIENT_KEY when HOST_KEY is given) and sends
// `GET /whoami` until every worker has answered once, pinning the host key by a known_hosts line
// for the port the workers got, then closes them all and exits (PORT=0 then picks a free port for
// all the workers).
//
// Run: PORT=0 WORKERS=2 CHECK=1 node examples/cluster.mjs
//
// Prints:
//   worker <pid> answered GET /whoami
//   worker <pid> answered GET /whoami
//   every worker answered; closing
import { execFileSync } from 'node:child_process'
import cluster from 'node:cluster'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from '@proto/korv'

const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 8022)
// 'v1', 'v2' or 'any' behind a balancer that sends the PROXY protocol; unset when clients
// connect directly.
const proxyProtocol = process.env.PROXY_PROTOCOL || undefined

if (cluster.isPrimary) {
  let throwaway
  if (process.env.HOST_KEY === undefined && process.env.AUTHORIZED_KEYS === undefined) {
    throwaway = mkdtempSync(join(tmpdir(), 'korv-cluster-'))
    for (const name of ['host_key', 'client_key']) {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(throwaway, name)])
    }
    // Workers inherit the primary's environment.
    process.env.HOST_KEY = join(throwaway, 'host_key')
    process.env.AUTHORIZED_KEYS = join(throwaway, 'client_key.pub')
    process.env.CLIENT_KEY = join(throwaway, 'client_key')
    console.log(`throwaway keys in ${throwaway}: client_key logs in`)
    process.once('exit', () => rmSync(throwaway, { recursive: true, force: true }))
  }
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
          console.error(`check failed: ${err.message}${err.code ? ` (${err.code})` : ''}`)
          process.exitCode = 1
          stop()
        })
      }
    })
    const check = async ({ host, port }) => {
      if (process.env.CLIENT_KEY === undefined) throw new Error('CHECK=1 with HOST_KEY needs CLIENT_KEY, a key AUTHORIZED_KEYS lets in')
      // The host key's public half, as `ssh-keygen -y` derives it, pinned for this host and port.
      const hostKey = execFileSync('ssh-keygen', ['-y', '-f', process.env.HOST_KEY], { encoding: 'utf8' })
      const login = { privateKey: { path: process.env.CLIENT_KEY }, knownHosts: `[${host}]:${port} ${hostKey}` }
      const answered = new Set()
      for (let i = 0; i < workers * 4 && answered.size < workers; i++) {
        const client = await connect({ host, port, ...login })
        const { body } = await client.get('/whoami')
        await client.close()
        if (!answered.has(body.pid)) console.log(`worker ${body.pid} answered GET /whoami`)
        answered.add(body.pid)
      }
      console.log(answered.size === workers ? 'every worker answered; closing' : `only ${answered.size} of ${workers} workers answered`)
      process.exitCode = answered.size === workers ? 0 : 1
      stop()
    }
  }
} else {
  const server = createServer({
    hostKeys: [{ path: process.env.HOST_KEY }],
    authorizedKeys: { path: process.env.AUTHORIZED_KEYS },
    handlers: {
      GET: { '/whoami': (request, ctx) => ({ code: 200, body: { pid: process.pid, remote: ctx.remote, key: ctx.key.fingerprint } }) },
    },
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
