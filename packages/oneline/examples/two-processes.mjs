// Server and client in two processes. Run without arguments, this starts itself again as the
// server (`node examples/two-processes.mjs serve`), reads the port from the server's first line,
// sends two commands as the client, then stops the server with SIGTERM and waits for it to exit.
//
// Prints:
//   server: listening on 127.0.0.1:<port>
//   client: echo hello -> hello
//   client: count 3 -> 1,2,3
//   server: closed
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { connect, createServer, demoHandler } from '@proto/oneline'

if (process.argv[2] === 'serve') {
  // The demo handler answers `echo TEXT` with TEXT and `count N` with the lines 1 to N.
  const server = createServer({ handler: demoHandler, allowShutdown: false })
  const { host, port } = await server.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
  console.log(`server: listening on ${host}:${port}`)
  process.once('SIGTERM', async () => {
    await server.close()
    console.log('server: closed')
  })
} else {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const [first] = await once(lines, 'line')
  console.log(first)
  const port = Number(/:(\d+)$/.exec(first)?.[1])

  const client = await connect({ host: '127.0.0.1', port })
  console.log(`client: echo hello -> ${await client.request('echo hello')}`)
  console.log(`client: count 3 -> ${await client.request('count 3', { lines: 3 })}`)
  await client.close()

  lines.on('line', (line) => console.log(line))
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  process.exitCode = code
}
