// The load generator, in a process of its own: `connections` clients made by the adapter, each
// with `depth` calls in flight (a closed loop: a call starts when one ends), a warm-up, then a
// timed window, whose start and end it tells over IPC: { start: true }, then the calls per
// second and its own CPU time per second and per call. Exits without closing anything (its
// parent ends the servers).
//   node load.mjs <adapter URL> <port> <connections> <depth> <warm-up s> <seconds>
import process from 'node:process'
import { setTimeout as sleep } from 'node:timers/promises'

const [adapterUrl, port, connections, depth, warmup, seconds] = process.argv.slice(2)
const adapter = await import(adapterUrl)

let done = 0
const fail = (err) => {
  console.error(err)
  process.exit(1)
}
for (let i = 0; i < Number(connections); i++) {
  // Calls start as soon as their own client is up: a oneline client waiting for its turn must
  // not hold back the others.
  const client = adapter.openClient({ port: Number(port) })
  for (let j = 0; j < Number(depth); j++) {
    client
      .then(async (c) => {
        for (;;) {
          await c.call()
          done++
        }
      })
      .catch(fail)
  }
}
await sleep(Number(warmup) * 1000)
process.send({ start: true })
const startCount = done
const startCpu = process.cpuUsage()
const start = performance.now()
await sleep(Number(seconds) * 1000)
const calls = done - startCount
const elapsed = (performance.now() - start) / 1000
const { user, system } = process.cpuUsage(startCpu)
const cpu = (user + system) / 1e6
process.send({ rate: calls / elapsed, cpu: cpu / elapsed, cpuPerCall: cpu / calls, calls, elapsed }, () => process.exit(0))
