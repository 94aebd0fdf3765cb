// Sequential command/response on 127.0.0.1: `echo hello` → `hello`, one round trip at a time.
// Baseline: raw TCP round trips of the same bytes (a 'data' listener answering each LF). The
// target row is the whole stack: @proto/oneline's client talking to its server, both from dist.
// Two more rows take one side each, to show where the time goes, and a last one runs the least
// oneline exchange on framing (bench/least-oneline.mjs): the ceiling the prescribed building
// blocks leave. Servers and clients share this process, so each round trip pays both sides' CPU
// (a cross-process round trip would add the same wake-up latency to every row). Contenders
// alternate (A B C D E A B C D E ...) after a warm-up; the table shows medians of round trips per
// second, min–max, their ratio to the baseline, CPU time per round trip (steadier than wall time
// on a shared machine) and its ratio, and whether the round-trip ratio meets the target.
//
//   node bench/run.mjs [--count 20000] [--reps 5]
import net from 'node:net'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { connect, createServer, demoHandler } from '../dist/index.js'
import { leastOnelineClient, leastOnelineServer } from './least-oneline.mjs'

const { values } = parseArgs({
  options: { count: { type: 'string', default: '20000' }, reps: { type: 'string', default: '5' } },
})
const COUNT = Number(values.count)
const REPS = Number(values.reps)
const TARGET = 0.9
const COMMAND = 'echo hello'

async function rawServer() {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('data', (chunk) => {
      let start = 0
      for (let lf = chunk.indexOf(10); lf !== -1; start = lf + 1, lf = chunk.indexOf(10, start)) {
        // `ping` at connect, `disconnect` at close, else the echo command: the first byte tells.
        if (chunk[start] === 0x70) socket.write('pong\n')
        else if (chunk[start] === 0x64) socket.end()
        else socket.write('hello\n')
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return { port: server.address().port, close: () => new Promise((resolve) => server.close(resolve)) }
}

async function onelineServer() {
  // One client at a time: every row that talks to a oneline server gets its own.
  const server = createServer({ handler: demoHandler })
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  return { port, close: () => server.close() }
}

async function rawClient(port) {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
  await new Promise((resolve) => socket.once('connect', resolve))
  const request = Buffer.from(`${COMMAND}\n`)
  let answered = () => {}
  socket.on('data', (chunk) => {
    if (chunk[chunk.length - 1] === 10) answered()
  })
  return {
    async run(n) {
      for (let i = 0; i < n; i++) {
        const reply = new Promise((resolve) => (answered = resolve))
        socket.write(request)
        await reply
      }
    },
    close: async () => socket.destroy(),
  }
}

async function onelineClient(port) {
  const client = await connect({ host: '127.0.0.1', port })
  return {
    async run(n) {
      for (let i = 0; i < n; i++) {
        const [line] = await client.request(COMMAND)
        if (line !== 'hello') throw new Error(`unexpected reply ${line}`)
      }
    },
    close: () => client.close(),
  }
}

async function leastClient(port) {
  const client = await leastOnelineClient(port)
  return {
    async run(n) {
      for (let i = 0; i < n; i++) {
        const line = await client.request(COMMAND)
        if (line !== 'hello') throw new Error(`unexpected reply ${line}`)
      }
    },
    close: () => client.close(),
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
const fmt = (x) => Math.round(x).toLocaleString('en-US')

console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${new Date().toISOString()}`)
console.log(`${COUNT} sequential round trips of "${COMMAND}" per repetition, ${REPS} repetitions, alternating\n`)

const raw = await rawServer()
const least = await leastOnelineServer((command) => demoHandler(command, { invalid: false }))
const servers = [raw, await onelineServer(), await onelineServer(), least]
const contenders = [
  { name: 'raw TCP client ↔ raw TCP server', target: false, ...(await rawClient(raw.port)) },
  { name: '@proto/oneline client ↔ @proto/oneline server', target: true, ...(await onelineClient(servers[1].port)) },
  { name: 'raw TCP client ↔ @proto/oneline server', target: false, note: '(one side only)', ...(await rawClient(servers[2].port)) },
  { name: '@proto/oneline client ↔ raw TCP server', target: false, note: '(one side only)', ...(await onelineClient(raw.port)) },
  { name: 'least oneline exchange on framing (no checks)', target: false, note: '(ceiling)', ...(await leastClient(least.port)) },
]
for (const c of contenders) await c.run(Math.min(COUNT, 5000))
const rates = contenders.map(() => [])
const cpu = contenders.map(() => [])
for (let rep = 0; rep < REPS; rep++) {
  for (const [i, c] of contenders.entries()) {
    const cpuStart = process.cpuUsage()
    const start = process.hrtime.bigint()
    await c.run(COUNT)
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    const used = process.cpuUsage(cpuStart)
    rates[i].push(COUNT / seconds)
    cpu[i].push((used.user + used.system) / COUNT)
  }
}
for (const c of contenders) await c.close()
for (const s of servers) await s.close()

const baseline = median(rates[0])
const baselineCpu = median(cpu[0])
console.log('| contender | round trips/s (median) | min–max | ratio | CPU µs per round trip | CPU ratio | target ≥ 0.9× |')
console.log('|---|---:|---:|---:|---:|---:|---|')
for (const [i, c] of contenders.entries()) {
  const ratio = median(rates[i]) / baseline
  const target = i === 0 ? 'baseline' : c.target ? (ratio >= TARGET ? 'yes' : 'no') : c.note
  const range = `${fmt(Math.min(...rates[i]))}–${fmt(Math.max(...rates[i]))}`
  const cpuRatio = baselineCpu / median(cpu[i])
  console.log(
    `| ${c.name} | ${fmt(median(rates[i]))} | ${range} | ${ratio.toFixed(2)}× | ${median(cpu[i]).toFixed(1)} | ${cpuRatio.toFixed(2)}× | ${target} |`,
  )
}
