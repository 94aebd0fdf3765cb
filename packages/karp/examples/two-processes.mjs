// A server and a client in two processes. Run as it is, this file starts itself again as the server
// process, reads the address from its first line of output, asks it two things, then stops it with
// SIGTERM and waits for it to exit. Either half runs on its own too:
//
//   PORT=7755 node examples/two-processes.mjs server           # serves until Ctrl-C or SIGTERM
//   node examples/two-processes.mjs client 127.0.0.1:7755     # against any karp server (karp serve too)
//
// Prints:
//   server: listening on 127.0.0.1:<port>
//   client: HELLO FROM ANOTHER PROCESS
//   client: sent by pid <pid>
//   server: closed
//   client: server exited with code 0
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { connect, createServer } from '@proto/karp'

const [role = 'both', address] = process.argv.slice(2)

async function serve() {
  const server = createServer({
    handlers: {
      // The routes `karp serve` demonstrates, so the client half works against either.
      echo: (request) => request.data,
      upper: (request) => request.text.toUpperCase(),
    },
  })
  server.on('clientError', (err, peer) => {
    const from = peer.remote ?? peer // a connection (karp keeps it after a bad line), or a PeerInfo for a refused peer
    console.error(`server: client ${from.address}:${from.port}: ${err.message} (${err.code})`)
  })
  const { host, port } = await server.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
  console.log(`server: listening on ${host}:${port}`)
  const stop = async () => {
    await server.close() // running handlers finish, then every connection ends
    console.log('server: closed')
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

async function ask(target) {
  const [host, port] = target.split(/:(?=\d+$)/)
  const client = await connect({ host, port: Number(port) })
  console.log(`client: ${(await client.request('upper', 'hello from another process')).text()}`)
  console.log(`client: ${(await client.request('echo', `sent by pid ${process.pid}`)).text()}`)
  await client.close()
}

if (role === 'server') {
  await serve()
} else if (role === 'client') {
  await ask(address ?? '127.0.0.1:7755')
} else {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'server'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'close') // after the process exits and its output is read
  const lines = createInterface({ input: child.stdout })
  const first = await new Promise((resolve, reject) => {
    lines.once('line', resolve)
    void exited.then(([code]) => reject(new Error(`the server exited with code ${code} before listening`)))
  })
  console.log(first)
  lines.on('line', (line) => console.log(line)) // the server's later lines
  await ask(first.slice(first.lastIndexOf(' ') + 1))
  child.kill('SIGTERM')
  const [code] = await exited
  console.log(`client: server exited with code ${code}`)
}
