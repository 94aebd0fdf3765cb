// @proto/karp (server and client from dist) against baselines measured in the same run on
// 127.0.0.1: sequential round trips against raw TCP round trips of a 64-byte line (63 bytes and
// its LF), and pipelined requests (64 in flight) against ws echoing 63-byte binary messages. A third sequential row, the least
// KARP exchange (bench/least-karp.mjs), shows the ceiling the wire format itself leaves. Servers
// and clients share this process, so every message pays both sides. After a warm-up, contenders
// alternate (A B A B ...); the table shows medians, min–max, the ratio of medians and whether the
// target is met. Only same-run ratios mean anything on a shared machine.
//
//   node bench/run.mjs [--reps 5] [--sequential 10000] [--pipelined 100000] [--window 64]
import { Buffer } from 'node:buffer'
import net from 'node:net'
import os from 'node:os'
import process from 'node:process'
import { parseArgs } from 'node:util'
import { WebSocket, WebSocketServer } from 'ws'
import { connect, createServer } from '../dist/index.js'
import { leastKarpContender } from './least-karp.mjs'

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    sequential: { type: 'string', default: '10000' },
    pipelined: { type: 'string', default: '100000' },
    window: { type: 'string', default: '64' },
  },
})
const REPS = Math.min(20, Math.max(1, Number(values.reps)))
const SEQUENTIAL = Math.max(100, Number(values.sequential))
const PIPELINED = Math.max(1000, Number(values.pipelined))
const WINDOW = Math.max(1, Number(values.window))
const PAYLOAD = Buffer.alloc(63, 0x78)

async function karpContender() {
  const server = createServer({ handlers: { echo: (request) => request.data } })
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  const client = await connect({ host: '127.0.0.1', port })
  const check = (reply) => {
    if (reply.data.length !== PAYLOAD.length) throw new Error('unexpected reply')
  }
  return {
    name: '@proto/karp request()',
    async sequential(n) {
      for (let i = 0; i < n; i++) check(await client.request('echo', PAYLOAD))
    },
    pipelined(n) {
      return new Promise((resolve, reject) => {
        let sent = 0
        let done = 0
        const next = () => {
          sent++
          client.request('echo', PAYLOAD).then((reply) => {
            check(reply)
            if (++done === n) resolve()
            else if (sent < n) next()
          }, reject)
        }
        for (let i = 0; i < Math.min(WINDOW, n); i++) next()
      })
    },
    async close() {
      await client.close()
      await server.close()
    },
  }
}

/** The sequential baseline: a hand-written line echo over a plain socket, no framing library. */
async function rawContender() {
  const server = net.createServer({ noDelay: true }, (socket) => {
    let carry = Buffer.alloc(0)
    socket.on('data', (chunk) => {
      const data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk])
      let start = 0
      for (let lf = data.indexOf(10); lf !== -1; lf = data.indexOf(10, start)) {
        socket.write(data.subarray(start, lf + 1))
        start = lf + 1
      }
      carry = Buffer.from(data.subarray(start))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const socket = net.connect({ port: server.address().port, host: '127.0.0.1', noDelay: true })
  await new Promise((resolve) => socket.once('connect', resolve))
  const line = Buffer.from(`${PAYLOAD}\n`)
  let received = 0
  let answered = () => {}
  socket.on('data', (chunk) => {
    received += chunk.length
    if (received >= line.length) {
      received -= line.length
      answered()
    }
  })
  return {
    name: 'raw TCP round trip',
    async sequential(n) {
      for (let i = 0; i < n; i++) {
        const reply = new Promise((resolve) => (answered = resolve))
        socket.write(line)
        await reply
      }
    },
    async close() {
      socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** The pipelined baseline: ws echoing binary messages of the same payload, with the same number in flight. */
async function wsContender() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise((resolve) => server.once('listening', resolve))
  server.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })))
  const socket = new WebSocket(`ws://127.0.0.1:${server.address().port}`)
  await new Promise((resolve) => socket.once('open', resolve))
  return {
    name: 'ws 8.23.0 echo',
    pipelined(n) {
      return new Promise((resolve) => {
        let sent = 0
        let done = 0
        const onMessage = (data) => {
          if (data.length !== PAYLOAD.length) throw new Error('unexpected reply')
          if (++done === n) {
            socket.off('message', onMessage)
            resolve()
          } else if (sent < n) {
            sent++
            socket.send(PAYLOAD)
          }
        }
        socket.on('message', onMessage)
        for (; sent < Math.min(WINDOW, n); sent++) socket.send(PAYLOAD)
      })
    },
    async close() {
      socket.terminate()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
const fmt = (x) => Math.round(x).toLocaleString('en-US')

/** Messages per second of each contender's `method`, `reps` alternating repetitions. */
async function measure(contenders, method, n) {
  for (const c of contenders) await c[method](Math.max(1, n >> 2))
  const rates = contenders.map(() => [])
  for (let rep = 0; rep < REPS; rep++) {
    for (const [i, c] of contenders.entries()) {
      const start = process.hrtime.bigint()
      await c[method](n)
      rates[i].push(n / (Number(process.hrtime.bigint() - start) / 1e9))
    }
  }
  return rates
}

const rows = []
/** `targets[i]` is the ratio karp must reach against contender i, or undefined for a reference row. */
function report(caseName, unit, contenders, rates, targets) {
  const ours = median(rates[0])
  for (const [i, c] of contenders.entries()) {
    const m = median(rates[i])
    const target = targets[i]
    rows.push([
      caseName,
      c.name,
      `${fmt(m)} ${unit}`,
      `${fmt(Math.min(...rates[i]))}–${fmt(Math.max(...rates[i]))}`,
      i === 0 ? '' : `${(ours / m).toFixed(2)}×`,
      target === undefined ? '' : `≥ ${target}×`,
      target === undefined ? '' : ours / m >= target ? 'yes' : 'no',
    ])
  }
}

const cpus = os.cpus()
console.log(`@proto/karp benchmark: Node ${process.version}, ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${new Date().toISOString()}`)
console.log(
  `${fmt(SEQUENTIAL)} sequential and ${fmt(PIPELINED)} pipelined (${WINDOW} in flight) ${PAYLOAD.length}-byte messages per repetition, median of ${REPS} alternating repetitions\n`,
)

const karp = await karpContender()
const raw = await rawContender()
const least = await leastKarpContender(PAYLOAD)
const ws = await wsContender()
const sequential = await measure([karp, raw, least], 'sequential', SEQUENTIAL)
report('sequential round trips', 'round trips/s', [karp, raw, least], sequential, [undefined, 0.9, undefined])
report(`pipelined, ${WINDOW} in flight`, 'msgs/s', [karp, ws], await measure([karp, ws], 'pipelined', PIPELINED), [undefined, 1.5])
for (const c of [karp, raw, least, ws]) await c.close()

const header = ['case', 'contender', 'median', 'min–max', 'karp ÷ contender', 'target', 'met']
console.log(`| ${header.join(' | ')} |`)
console.log(`|${header.map(() => '---').join('|')}|`)
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
const ceiling = median(sequential[2]) / median(sequential[1])
console.log(`\nThe least KARP exchange reaches ${ceiling.toFixed(2)}× raw TCP round trips in this run: the ceiling that the wire format and framing's batching leave to any implementation.`)
