// The server of the idle-connection measurement, alone in its process (run with --expose-gc).
// Answers each 'measure' message with its memory after two forced collections and the number
// of connections it holds.
//   node --expose-gc idle-server.mjs <adapter URL> <connections>
import process from 'node:process'

const [adapterUrl, connections] = process.argv.slice(2)
const adapter = await import(adapterUrl)
// Room for the measured connections and a few more, so none is refused at admission.
const server = await adapter.startServer({ port: 0, maxConnections: Number(connections) + 64 })
process.on('message', () => {
  globalThis.gc()
  globalThis.gc()
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage()
  process.send({ rss, heapUsed, external, arrayBuffers, connections: server.connections() })
})
process.send({ port: server.port })
