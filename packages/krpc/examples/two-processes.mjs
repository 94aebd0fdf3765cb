// A server and a client in two processes. Run as it is, this file starts itself again as the server
// process, reads the address from its first line of output, calls it, then stops it with SIGTERM
// and waits for it to exit. Either half runs on its own too:
//
//   PORT=8080 node examples/two-processes.mjs server               # serves until Ctrl-C or SIGTERM
//   node examples/two-processes.mjs client http://127.0.0.1:8080   # against any krpc server (krpc serve too)
//
// Prints:
//   server: listening on 127.0.0.1:<port>
//   client: add(2, 3) = 5
//   client: echo: sent by pid <pid>
//   client: upload: {"name":"hello.txt","size":31,"sha256":"<hex>"}
//   server: closed
//   client: server exited with code 0
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { asFile, connect, createServer } from '@proto/krpc'

const [role = 'both', target] = process.argv.slice(2)

async function serve() {
  const server = createServer({
    handlers: {
      // Methods `krpc serve` offers as well, so the client half works against either.
      add: (a, b) => a + b,
      echo: (x) => x,
      upload: async (file) => {
        const hash = createHash('sha256')
        let size = 0
        for await (const chunk of file) {
          size += chunk.length
          hash.update(chunk)
        }
        return { name: file.filename, size, sha256: hash.digest('hex') }
      },
    },
  })
  server.on('clientError', (err, peer) => console.error(`server: client ${peer.remote?.address ?? peer.address}: ${err.message} (${err.code})`))
  server.on('handlerError', (err) => console.error(`server: a method failed: ${err.message}`))
  const { host, port } = await server.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
  console.log(`server: listening on ${host}:${port}`)
  const stop = async () => {
    await server.close() // calls in progress finish, idle connections close at once
    console.log('server: closed')
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

async function ask(url) {
  const client = await connect({ url })
  console.log(`client: add(2, 3) = ${await client.call('add', [2, 3])}`)
  console.log(`client: echo: ${await client.call('echo', [`sent by pid ${process.pid}`])}`)
  const file = asFile(new TextEncoder().encode('a file from the client process\n'), { filename: 'hello.txt' })
  console.log(`client: upload: ${JSON.stringify(await client.call('upload', [file]))}`)
  await client.close()
}

if (role === 'server') {
  await serve()
} else if (role === 'client') {
  await ask(target ?? 'http://127.0.0.1:8080')
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
  await ask(`http://${first.slice(first.lastIndexOf(' ') + 1)}`)
  child.kill('SIGTERM')
  const [code] = await exited
  console.log(`client: server exited with code ${code}`)
}
