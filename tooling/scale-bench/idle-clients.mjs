// The clients of the idle-connection measurement, in a process of their own: opens `count`
// connections with the adapter's openIdle(), `parallel` at a time, reports 'open' over IPC and
// holds them until it is killed.
//   node idle-clients.mjs <adapter URL> <port> <count> <parallel>
import process from 'node:process'
import { openTcp } from './raw.mjs'

const [adapterUrl, port, count, parallel] = process.argv.slice(2)
const adapter = await import(adapterUrl)
const openIdle = adapter.openIdle ?? openTcp
const held = []
let next = 0
async function opener() {
  while (next < Number(count)) {
    next++
    held.push(await openIdle({ port: Number(port) }))
  }
}
try {
  await Promise.all(Array.from({ length: Number(parallel) }, opener))
} catch (err) {
  console.error(err)
  process.exit(1)
}
process.send({ open: held.length })
