// A server and a client in two processes. Run as it is, this file makes throwaway keys with
// `ssh-keygen` in a temporary directory, starts itself again as the server process, reads the
// address from its first line of output, writes a known_hosts line for that port, asks the server
// two things, then stops it with SIGTERM and waits for it to exit. Either half runs on its own too,
// with the key files in DIR (host_key and authorized_keys for the server; client_key and
// known_hosts for the client):
//
//   PORT=8022 node examples/two-processes.mjs server DIR              # serves until Ctrl-C or SIGTERM
//   node examples/two-processes.mjs client 127.0.0.1:8022 DIR         # against any korv server (korv serve too)
//
// Prints:
//   server: listening on 127.0.0.1:<port>
//   client: {"msg":"Hello World!"}
//   client: {"from":"pid <pid>"}
//   server: closed
//   client: server exited with code 0
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { connect, createServer } from '@proto/korv'

const [role = 'both', ...rest] = process.argv.slice(2)

async function serve(dir) {
  const server = createServer({
    hostKeys: [{ path: join(dir, 'host_key') }],
    authorizedKeys: { path: join(dir, 'authorized_keys') },
    handlers: {
      // Two of the resources `korv serve` demonstrates, so the client half works against either.
      GET: {
        '/hello': () => ({ code: 200, body: { msg: 'Hello World!' } }),
        '/echo': (request) => ({ code: 200, body: request.body }),
      },
    },
  })
  server.on('clientError', (err, peer) => console.error(`server: client ${peer.address}:${peer.port}: ${err.message} (${err.code})`))
  const { host, port } = await server.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
  console.log(`server: listening on ${host}:${port}`)
  const stop = async () => {
    await server.close() // running handlers reply, then every connection ends
    console.log('server: closed')
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

async function ask(target, dir) {
  const [host, port] = target.split(/:(?=\d+$)/)
  const client = await connect({
    host,
    port: Number(port),
    privateKey: { path: join(dir, 'client_key') },
    knownHosts: { path: join(dir, 'known_hosts') },
  })
  console.log(`client: ${JSON.stringify((await client.get('/hello')).body)}`)
  console.log(`client: ${JSON.stringify((await client.get('/echo', { from: `pid ${process.pid}` })).body)}`)
  await client.close()
}

if (role === 'server') {
  await serve(rest[0] ?? '.')
} else if (role === 'client') {
  await ask(rest[0] ?? '127.0.0.1:8022', rest[1] ?? '.')
} else {
  const dir = mkdtempSync(join(tmpdir(), 'korv-'))
  for (const name of ['host_key', 'client_key']) {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)])
  }
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')))

  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'server', dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'close') // after the process exits and its output is read
  const lines = createInterface({ input: child.stdout })
  const first = await new Promise((resolve, reject) => {
    lines.once('line', resolve)
    void exited.then(([code]) => reject(new Error(`the server exited with code ${code} before listening`)))
  })
  console.log(first)
  lines.on('line', (line) => console.log(line)) // the server's later lines
  const target = first.slice(first.lastIndexOf(' ') + 1)
  // Pin the server's host key for the address it listens on.
  const [host, port] = target.split(/:(?=\d+$)/)
  writeFileSync(join(dir, 'known_hosts'), `[${host}]:${port} ${readFileSync(join(dir, 'host_key.pub'), 'utf8')}`)
  await ask(target, dir)
  child.kill('SIGTERM')
  const [code] = await exited
  console.log(`client: server exited with code ${code}`)
  rmSync(dir, { recursive: true })
}
