// A server and a client in two processes. Run as it is, this file starts itself again as the server
// process, reads the address from its first line of output, sends it a frame with a file, then
// stops it with SIGTERM and waits for it to exit. Either half runs on its own too:
//
//   PORT=8000 node examples/two-processes.mjs server           # serves until Ctrl-C or SIGTERM
//   node examples/two-processes.mjs client 127.0.0.1:8000      # against any echoing server (tej serve too)
//
// Prints:
//   server: listening on 127.0.0.1:<port>
//   client: sent status 3 with hello.txt
//   client: echoed status 3, message sent by pid <pid>, file hello.txt (31 bytes)
//   server: closed
//   client: server exited with code 0
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { connect, createServer } from '@proto/tej'

const [role = 'both', address] = process.argv.slice(2)

async function serve() {
  const server = createServer({
    // Echo every frame, as `tej serve` does: buffer() holds it whole, up to limits.maxBufferedBytes.
    handler: async (frame, ctx) => ctx.connection.send(await frame.buffer()),
  })
  server.on('clientError', (err, peer) => console.error(`server: client ${peer.address}:${peer.port}: ${err.message} (${err.code})`))
  const { host, port } = await server.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
  console.log(`server: listening on ${host}:${port}`)
  const stop = async () => {
    await server.close() // running handlers and queued sends finish, then every connection ends
    console.log('server: closed')
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

async function send(target) {
  const [host, port] = target.split(/:(?=\d+$)/)
  const client = await connect({ host, port: Number(port) })
  await client.send({ status: 3, message: `sent by pid ${process.pid}`, files: [{ name: 'hello.txt', data: 'hello from the client process\n\n' }] })
  console.log('client: sent status 3 with hello.txt')
  for await (const frame of client) {
    const { status, files, message } = await frame.buffer()
    const list = files.map((file) => `${file.name} (${file.data.length} bytes)`).join(', ')
    console.log(`client: echoed status ${status}, message ${Buffer.from(message).toString()}, file ${list}`)
    break
  }
  await client.close()
}

if (role === 'server') {
  await serve()
} else if (role === 'client') {
  await send(address ?? '127.0.0.1:8000')
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
  await send(first.slice(first.lastIndexOf(' ') + 1))
  child.kill('SIGTERM')
  const [code] = await exited
  console.log(`client: server exited with code ${code}`)
}
