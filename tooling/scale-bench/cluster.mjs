// One server under node:cluster: the primary forks `workers` workers, each of which starts the
// adapter's server on 127.0.0.1 port 0 (cluster workers asking for port 0 share one port), and
// tells its parent the port over IPC. The parent's 'cpu' gets the CPU seconds all workers have
// used so far; 'stop' ends the workers and the primary.
//   node cluster.mjs <adapter URL> <workers>
import cluster from 'node:cluster'
import process from 'node:process'

const [adapterUrl, workerCount] = process.argv.slice(2)

if (cluster.isPrimary) {
  const workers = Array.from({ length: Number(workerCount) }, () => cluster.fork())
  // A worker that dies (its server failed to start, or crashed) ends the run: the parent would
  // otherwise wait for its port, or its CPU time, for ever.
  const workerDied = (worker, code, signal) => {
    console.error(`cluster worker ${worker.process.pid} exited (${signal ?? code})`)
    process.exit(1)
  }
  cluster.on('exit', workerDied)
  const ports = await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('message', resolve))))
  if (new Set(ports).size !== 1) throw new Error(`workers listen on different ports: ${ports.join(', ')}`)
  process.send({ port: ports[0] })
  process.on('message', async (command) => {
    if (command === 'cpu') {
      const cpu = await Promise.all(
        workers.map((worker) => {
          worker.send('cpu')
          return new Promise((resolve) => worker.once('message', resolve))
        }),
      )
      process.send({ cpu: cpu.reduce((a, b) => a + b, 0) })
    } else {
      cluster.off('exit', workerDied)
      for (const worker of workers) worker.process.kill('SIGKILL')
      process.exit(0)
    }
  })
} else {
  const adapter = await import(adapterUrl)
  const server = await adapter.startServer({ port: 0, maxConnections: 1024 })
  process.on('message', () => {
    const { user, system } = process.cpuUsage()
    process.send((user + system) / 1e6)
  })
  process.send(server.port)
}
