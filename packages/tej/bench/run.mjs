// Bulk transfer of one large file over TEJ against raw TCP moving the same bytes, measured in
// the same run: only same-run ratios mean anything on a shared machine.
//
//   node bench/run.mjs [--reps 5] [--mib 512] [--rss-mib 4096] [--chunk-kib 256]
//
// Every transfer runs in two fresh processes on 127.0.0.1: a receiver (which times from the
// connection to the last byte, and reports its peak RSS) and a sender. The raw contender writes a
// reused chunk to a socket with backpressure and counts bytes on the other side; TEJ sends one
// frame whose only file is a `{ stream, size }` source of the same chunk, and the receiver reads
// it as a stream. After a warm-up, contenders alternate (raw, tej, raw, tej, …); medians decide.
// A last pair moves `--rss-mib` (default 4 GiB) once per contender to show peak RSS stays flat.
import { Buffer } from 'node:buffer'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import os from 'node:os'
import process from 'node:process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connect, createServer } from '../dist/index.js'

const MiB = 1024 * 1024
const TARGET = 0.85
const self = fileURLToPath(import.meta.url)

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    mib: { type: 'string', default: '512' },
    'rss-mib': { type: 'string', default: '4096' },
    'chunk-kib': { type: 'string', default: '256' },
    role: { type: 'string' },
    contender: { type: 'string' },
    bytes: { type: 'string' },
    port: { type: 'string' },
  },
})

const contenders = ['raw', 'tej']

// --- child roles ---

async function receive(contender, bytes) {
  let started = 0
  let done
  const finished = new Promise((resolve) => {
    done = resolve
  })
  let close
  if (contender === 'raw') {
    const server = net.createServer((socket) => {
      started = performance.now()
      let count = 0
      socket.on('data', (chunk) => {
        count += chunk.length
      })
      socket.on('end', () => {
        socket.end()
        done(count)
      })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    console.log(server.address().port)
    close = () => new Promise((resolve) => server.close(resolve))
  } else {
    const server = createServer({
      handler: async (frame) => {
        let count = 0
        for await (const file of frame.files()) for await (const chunk of file) count += chunk.length
        await frame.message()
        done(count)
      },
    })
    server.on('connection', () => {
      started = performance.now()
    })
    console.log((await server.listen({ port: 0 })).port)
    close = () => server.close()
  }
  const count = await finished
  const seconds = (performance.now() - started) / 1000
  await close()
  if (count !== bytes) throw new Error(`received ${count} of ${bytes} bytes`)
  console.log(JSON.stringify({ seconds, rss: process.resourceUsage().maxRSS * 1024, cpu: cpuSeconds() }))
}

/** User plus system CPU time of this process, in seconds. */
function cpuSeconds() {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

async function send(contender, bytes, port, chunkBytes) {
  const chunk = Buffer.alloc(chunkBytes, 0x5a)
  if (contender === 'raw') {
    const socket = net.connect({ host: '127.0.0.1', port })
    await once(socket, 'connect')
    for (let left = bytes; left > 0; left -= chunk.length) {
      if (!socket.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await once(socket, 'drain')
    }
    socket.end()
    socket.resume()
    await once(socket, 'close')
  } else {
    const conn = await connect({ host: '127.0.0.1', port })
    const source = async function* () {
      for (let left = bytes; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left)
    }
    await conn.send({ files: [{ name: 'bulk.bin', stream: source(), size: bytes }] })
    await conn.close()
    await conn.closed
  }
  console.log(JSON.stringify({ rss: process.resourceUsage().maxRSS * 1024, cpu: cpuSeconds() }))
}

// --- orchestration ---

/** The last line a child printed, parsed. */
async function finish(child, name) {
  const lines = []
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line))
  const [code] = await once(child, 'exit')
  if (code !== 0) throw new Error(`${name} exited with ${code}`)
  return JSON.parse(lines.at(-1))
}

async function transfer(contender, bytes) {
  const common = ['--contender', contender, '--bytes', String(bytes), '--chunk-kib', values['chunk-kib']]
  const receiver = spawn(process.execPath, [self, '--role', 'receive', ...common], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [portLine] = await once(createInterface({ input: receiver.stdout }), 'line')
  const received = finish(receiver, 'receiver')
  const sender = spawn(process.execPath, [self, '--role', 'send', '--port', portLine, ...common], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const [r, s] = await Promise.all([received, finish(sender, 'sender')])
  return { mbps: bytes / 1e6 / r.seconds, receiverRss: r.rss, senderRss: s.rss, cpuPerGiB: ((r.cpu + s.cpu) * 1024 * MiB) / bytes }
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
const mb = (n) => `${(n / MiB).toFixed(0)} MiB`

async function main() {
  const reps = Math.min(20, Math.max(1, Number(values.reps)))
  const bytes = Math.max(1, Number(values.mib)) * MiB
  const rssBytes = Math.max(1, Number(values['rss-mib'])) * MiB
  const cpus = os.cpus()
  console.log(`Node ${process.version}, ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), ${new Date().toISOString()}`)
  console.log(`one file of ${mb(bytes)} per transfer, ${values['chunk-kib']} KiB source chunks, ${reps} reps after a warm-up; contenders alternate\n`)

  for (const contender of contenders) await transfer(contender, Math.min(bytes, 64 * MiB))
  const rates = { raw: [], tej: [] }
  const cpu = { raw: [], tej: [] }
  for (let rep = 0; rep < reps; rep += 1) {
    for (const contender of contenders) {
      const run = await transfer(contender, bytes)
      rates[contender].push(run.mbps)
      cpu[contender].push(run.cpuPerGiB)
    }
  }
  const rawMedian = median(rates.raw)
  const tejMedian = median(rates.tej)
  const ratio = tejMedian / rawMedian
  console.log('| case | median MB/s | min–max MB/s | ratio to raw TCP | target | met | CPU s per GiB, both ends |')
  console.log('|---|---|---|---|---|---|---|')
  for (const contender of contenders) {
    const xs = rates[contender]
    const row = contender === 'raw' ? ['raw TCP socket (baseline)', '1.00', '—', '—'] : ['TEJ, one streamed file', ratio.toFixed(2), `≥ ${TARGET}`, ratio >= TARGET ? 'yes' : 'no']
    console.log(
      `| ${row[0]} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} | ${row[1]} | ${row[2]} | ${row[3]} | ${median(cpu[contender]).toFixed(2)} |`,
    )
  }

  console.log(`\npeak RSS moving one ${mb(rssBytes)} file, once per contender:\n`)
  console.log('| case | MB/s | receiver peak RSS | sender peak RSS |')
  console.log('|---|---|---|---|')
  for (const contender of contenders) {
    const run = await transfer(contender, rssBytes)
    const label = contender === 'raw' ? 'raw TCP socket' : 'TEJ, one streamed file'
    console.log(`| ${label} | ${run.mbps.toFixed(0)} | ${mb(run.receiverRss)} | ${mb(run.senderRss)} |`)
  }
}

const role = values.role
if (role === 'receive') await receive(values.contender, Number(values.bytes))
else if (role === 'send') await send(values.contender, Number(values.bytes), Number(values.port), Number(values['chunk-kib']) * 1024)
else await main()
