// Benchmarks of @proto/krpc against baselines measured in the same run: small calls (krpc client
// and server, jayson client and server, undici on a bare node:http JSON server), and a 256 MiB
// upload (krpc client and server, a bare busboy server fed by node:http). Servers run in a child
// process, clients here. Contenders alternate within each repetition; the table shows medians.
//   node bench/run.mjs [--reps 5] [--calls 4000] [--concurrency 16] [--upload-mib 256]
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import os from 'node:os'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import jayson from 'jayson'
import { Agent, request } from 'undici'
import { asFile, connect } from '../dist/index.js'

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    calls: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '16' },
    'upload-mib': { type: 'string', default: '256' },
  },
})
const reps = Number(values.reps)
const calls = Number(values.calls)
const concurrency = Number(values.concurrency)
const uploadBytes = Number(values['upload-mib']) * 1024 * 1024

const servers = spawn(process.execPath, [new URL('./servers.mjs', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] })
const serverLines = createInterface({ input: servers.stdout })[Symbol.asyncIterator]()
const ports = JSON.parse((await serverLines.next()).value)

/** The server process's CPU time so far, in microseconds. */
async function serverCpu() {
  servers.stdin.write('cpu\n')
  return JSON.parse((await serverLines.next()).value).cpu
}

/** Runs `total` calls of `one`, `concurrency` at a time; resolves with calls per second. */
async function throughput(one, total = calls) {
  let next = 0
  const started = process.hrtime.bigint()
  const worker = async () => {
    while (next < total) {
      next++
      await one()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return total / (Number(process.hrtime.bigint() - started) / 1e9)
}

const PARAM = 'hello world'
const krpcClient = await connect({ port: ports.krpc })
const jaysonAgent = new http.Agent({ keepAlive: true })
const jaysonClient = jayson.Client.http({ host: '127.0.0.1', port: ports.jayson, agent: jaysonAgent })
const undiciAgent = new Agent({ connections: concurrency })
const rawBody = JSON.stringify({ method: 'echo', params: [PARAM] })

const small = {
  krpc: async () => {
    if ((await krpcClient.call('echo', [PARAM])) !== PARAM) throw new Error('krpc echo failed')
  },
  jayson: () => new Promise((resolve, reject) => {
    jaysonClient.request('echo', [PARAM], (err, response) => {
      if (err || response.result !== PARAM) reject(err ?? new Error('jayson echo failed'))
      else resolve()
    })
  }),
  'undici + node:http': async () => {
    const res = await request(`http://127.0.0.1:${ports.raw}/`, {
      method: 'POST', body: rawBody, headers: { 'content-type': 'application/json' }, dispatcher: undiciAgent,
    })
    const reply = await res.body.json()
    if (reply.result !== PARAM) throw new Error('raw echo failed')
  },
}

const CHUNK = randomBytes(65_536)
function uploadSource() {
  return Readable.from((function* () {
    for (let sent = 0; sent < uploadBytes; sent += CHUNK.length) yield CHUNK
  })())
}

/** The same streamed multipart body krpc's client sends, posted by hand to the busboy server. */
function busboyUpload() {
  return new Promise((resolve, reject) => {
    const boundary = 'bench-boundary-0123456789'
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n{"method": "upload", "params": ["__file__:1"], "pmhparams": null}\r\n`
      + `--${boundary}\r\nContent-Disposition: form-data; name="__file__:1"; filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\n`)
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
    const req = http.request({ host: '127.0.0.1', port: ports.busboy, method: 'POST', path: '/', headers: {
      'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': head.length + uploadBytes + tail.length,
    } })
    req.on('response', async (res) => {
      const chunks = []
      for await (const chunk of res) chunks.push(chunk)
      const reply = JSON.parse(Buffer.concat(chunks).toString())
      if (reply.result !== uploadBytes) reject(new Error(`busboy received ${reply.result}`))
      else resolve()
    })
    req.on('error', reject)
    req.write(head)
    const source = uploadSource()
    source.on('data', (chunk) => {
      if (!req.write(chunk)) source.pause()
    })
    req.on('drain', () => source.resume())
    source.on('end', () => req.end(tail))
  })
}

const upload = {
  krpc: async () => {
    const size = await krpcClient.call('upload', [asFile(uploadSource(), { size: uploadBytes })], { timeout: 600_000 })
    if (size !== uploadBytes) throw new Error(`krpc received ${size}`)
  },
  'busboy + node:http': busboyUpload,
}

async function measure(contenders, runOne) {
  const results = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]))
  for (const one of Object.values(contenders)) await runOne(one, true)
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, one] of Object.entries(contenders)) results[name].push(await runOne(one, false))
  }
  return results
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function table(title, unit, results, base, target, baseline) {
  console.log(`\n${title}`)
  console.log(`| contender | median ${unit} | min–max | ratio to ${baseline} | target |`)
  console.log('|---|---:|---:|---:|---|')
  const reference = median(results[baseline])
  for (const [name, xs] of Object.entries(results)) {
    const m = median(xs)
    const ratio = m / reference
    const goal = name === base ? `≥ ${target}× ${ratio >= target ? 'met: yes' : 'met: no'}` : ''
    const fmt = (x) => (unit === 'MB/s' ? x.toFixed(0) : Math.round(x).toLocaleString('en-US'))
    console.log(`| ${name} | ${fmt(m)} | ${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))} | ${ratio.toFixed(2)}× | ${goal} |`)
  }
}

console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${new Date().toISOString()}`)
console.log(`${reps} repetitions after a warm-up; small calls: ${calls} per repetition, ${concurrency} in flight; upload: ${uploadBytes / 1024 / 1024} MiB`)

// CPU per call of each side, apart: what a contender costs whatever else the machine runs.
const cpuPerCall = Object.fromEntries(Object.keys(small).map((name) => [name, { client: [], server: [] }]))
const smallResults = await measure(small, async (one, warm) => {
  const server = await serverCpu()
  const client = process.cpuUsage()
  const n = warm ? Math.min(calls, 1000) : calls
  const rate = await throughput(one, n)
  const clientUsed = process.cpuUsage(client)
  const serverUsed = await serverCpu() - server
  if (!warm) {
    const name = Object.keys(small).find((key) => small[key] === one)
    cpuPerCall[name].client.push((clientUsed.user + clientUsed.system) / n)
    cpuPerCall[name].server.push(serverUsed / n)
  }
  return rate
})
table('Small calls (echo of a short string), calls/s', 'calls/s', smallResults, 'krpc', 1.2, 'jayson')
console.log('\nSmall calls, CPU per call (medians; client in this process, server in the child)')
console.log('| contender | client µs | server µs | both µs | both, to jayson |')
console.log('|---|---:|---:|---:|---:|')
const bothOf = (name) => median(cpuPerCall[name].client) + median(cpuPerCall[name].server)
for (const [name, { client, server }] of Object.entries(cpuPerCall)) {
  console.log(`| ${name} | ${median(client).toFixed(1)} | ${median(server).toFixed(1)} | ${bothOf(name).toFixed(1)} | ${(bothOf('jayson') / bothOf(name)).toFixed(2)}× |`)
}

const uploadResults = await measure(upload, async (one) => {
  const started = process.hrtime.bigint()
  await one()
  return uploadBytes / 1e6 / (Number(process.hrtime.bigint() - started) / 1e9)
})
table(`Upload of ${uploadBytes / 1024 / 1024} MiB, MB/s`, 'MB/s', uploadResults, 'krpc', 0.85, 'busboy + node:http')

await krpcClient.close()
jaysonAgent.destroy()
await undiciAgent.close()
servers.stdin.end()
await once(servers, 'exit')
