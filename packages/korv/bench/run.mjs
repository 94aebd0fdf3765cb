// korv against raw ssh2, in the same run: the same SSH transport (ssh2 server and client,
// compression off), once carrying korv's gzip-JSON requests and once carrying bare bytes that a
// server echoes. Contenders alternate (korv, raw, korv, raw, …) after a warm-up; each row shows
// medians over the repetitions and the ratio of medians. Drives the built dist/.
//
// A third contender runs only the encoding spec §1.2 prescribes, with no transport: each round
// trip's request and reply encoded (encodeMessage), decoded by framing's GzipMemberDecoder in
// SSH-packet-sized chunks and parsed. korv pays that on top of what raw ssh2 pays, so
// raw / (raw + codec) is the most any korv could reach; the second table shows it.
//
//   node bench/run.mjs [--reps 5] [--warmup 3] [--seq 1000] [--pipelined 4000] [--large 8]
import { once } from 'node:events'
import os from 'node:os'
import { parseArgs } from 'node:util'
import ssh2 from 'ssh2'
import { createMessageDecoder, encodeMessage, parseRequest, parseResponse } from '../dist/codec.js'
import { connect, createServer } from '../dist/index.js'

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    // korv's code path is longer than raw ssh2's and takes a few thousand calls to be compiled
    // fully; a single pass left the first repetitions half warm.
    warmup: { type: 'string', default: '3' },
    seq: { type: 'string', default: '1000' },
    pipelined: { type: 'string', default: '4000' },
    depth: { type: 'string', default: '64' },
    large: { type: 'string', default: '8' },
  },
})
const REPS = Number(values.reps)
const WARMUP = Number(values.warmup)
const SEQ = Number(values.seq)
const PIPELINED = Number(values.pipelined)
const DEPTH = Number(values.depth)
const LARGE = Number(values.large)
const TARGET = 0.85

function keyPair() {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519')
    if (!(ssh2.utils.parseKey(pair.public) instanceof Error) && !(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair
  }
}
const hostKey = keyPair()
const clientKey = keyPair()
const big = 64 * 1024 * 1024

// korv: server with GET /echo, one client.
const server = createServer({
  hostKeys: [hostKey.private],
  authorizedKeys: `${clientKey.public}\n`,
  routes: { GET: { '/echo': (ctx) => ({ code: 200, body: ctx.body }) } },
  limits: { maxMessageBytes: big, maxJsonBytes: big },
})
const { port: korvPort } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({
  port: korvPort,
  privateKey: clientKey.private,
  insecureAcceptAnyHostKey: true,
  maxMessageBytes: big,
  maxJsonBytes: big,
  timeout: 600_000,
})

// raw: an ssh2 server echoing every direct-tcpip byte, one ssh2 client channel.
const rawServer = new ssh2.Server({ hostKeys: [hostKey.private], algorithms: { compress: ['none'] } }, (conn) => {
  conn.setNoDelay(true)
  conn.on('error', () => {})
  conn.on('authentication', (ctx) => ctx.accept())
  conn.on('tcpip', (accept) => {
    const channel = accept()
    channel.on('data', (data) => channel.write(data))
  })
})
rawServer.listen(0, '127.0.0.1')
await once(rawServer, 'listening')
const rawPort = rawServer.address().port
const rawClient = new ssh2.Client()
rawClient.connect({ host: '127.0.0.1', port: rawPort, username: 'bench', privateKey: clientKey.private, algorithms: { compress: ['none'] } })
rawClient.setNoDelay(true)
await once(rawClient, 'ready')
const channel = await new Promise((resolve, reject) =>
  rawClient.forwardOut('', 0, '127.0.0.1', rawPort, (err, ch) => (err ? reject(err) : resolve(ch))),
)

// What a raw exchange waits for: `expected` bytes back.
let rawWant = 0
let rawGot = 0
let rawDone
channel.on('data', (data) => {
  rawGot += data.length
  if (rawGot >= rawWant) rawDone()
})
function rawExchange(bytes, count = 1) {
  rawWant = bytes.length * count
  rawGot = 0
  const done = new Promise((resolve) => (rawDone = resolve))
  for (let i = 0; i < count; i++) channel.write(bytes)
  return done
}

// The spec's encoding alone: what one round trip costs both ends without the transport.
const codecLimits = { maxMessageBytes: big, maxJsonBytes: big }
const serverDecoder = createMessageDecoder(codecLimits)
const clientDecoder = createMessageDecoder(codecLimits)
const SSH_PACKET_BYTES = 32 * 1024
async function decodeInPackets(decoder, member) {
  const frames = []
  for (let at = 0; at < member.length; at += SSH_PACKET_BYTES) frames.push(...(await decoder.push(member.subarray(at, at + SSH_PACKET_BYTES))))
  return frames
}
async function codecRoundTrip(body) {
  const [request] = await decodeInPackets(serverDecoder, encodeMessage({ id: Date.now() / 1000, verb: 'GET', resource: '/echo', body }, codecLimits))
  const { id, body: echoed } = parseRequest(request)
  const [reply] = await decodeInPackets(clientDecoder, encodeMessage({ id: Date.now() / 1000, request_id: id, code: 200, body: echoed }, codecLimits))
  return parseResponse(reply)
}

const smallBody = { name: 'item', n: 1, tags: ['a', 'b'] }
// A raw round trip carries what korv's GET /echo puts on the wire as JSON, uncompressed.
const smallRaw = Buffer.from(JSON.stringify({ id: 1795353522.6659622, verb: 'GET', resource: '/echo', body: smallBody }))
const largeBody = Array.from({ length: 12_000 }, (_, i) => ({ id: i, name: `item-${i}`, price: (i * 37) % 1000 / 10, tags: ['x', `t${i % 17}`], active: i % 3 === 0 }))
const largeRaw = Buffer.from(JSON.stringify(largeBody))

const cases = [
  {
    name: `sequential round trips (${SEQ}, ${smallRaw.length}-byte request)`,
    unit: 'req/s',
    work: SEQ,
    korv: async () => {
      for (let i = 0; i < SEQ; i++) await client.get('/echo', smallBody)
    },
    raw: async () => {
      for (let i = 0; i < SEQ; i++) await rawExchange(smallRaw)
    },
    codec: async () => {
      for (let i = 0; i < SEQ; i++) await codecRoundTrip(smallBody)
    },
  },
  {
    name: `pipelined round trips (${PIPELINED}, ${DEPTH} in flight)`,
    unit: 'req/s',
    work: PIPELINED,
    korv: async () => {
      let next = 0
      const lane = async () => {
        while (next++ < PIPELINED) await client.get('/echo', smallBody)
      }
      await Promise.all(Array.from({ length: DEPTH }, lane))
    },
    raw: async () => {
      for (let sent = 0; sent < PIPELINED; sent += DEPTH) await rawExchange(smallRaw, Math.min(DEPTH, PIPELINED - sent))
    },
    codec: async () => {
      for (let i = 0; i < PIPELINED; i++) await codecRoundTrip(smallBody)
    },
  },
  {
    name: `large body round trips (${LARGE} × ${(largeRaw.length / 1024 / 1024).toFixed(2)} MiB JSON)`,
    unit: 'MB/s',
    work: (LARGE * largeRaw.length * 2) / 1e6,
    korv: async () => {
      for (let i = 0; i < LARGE; i++) await client.get('/echo', largeBody)
    },
    raw: async () => {
      for (let i = 0; i < LARGE; i++) await rawExchange(largeRaw)
    },
    codec: async () => {
      for (let i = 0; i < LARGE; i++) await codecRoundTrip(largeBody)
    },
  },
]

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}
async function time(fn) {
  const start = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - start) / 1e9
}

console.log(`korv benchmark: Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${new Date().toISOString()}`)
console.log(`${REPS} repetitions per contender, alternating after ${WARMUP} warm-up passes each; target korv >= ${TARGET}x raw ssh2\n`)
const rows = []
const floors = []
for (const c of cases) {
  for (let pass = 0; pass < WARMUP; pass++) {
    await c.korv()
    await c.raw()
    await c.codec()
  }
  const rates = { korv: [], raw: [], codec: [] }
  for (let rep = 0; rep < REPS; rep++) {
    for (const who of ['korv', 'raw', 'codec']) rates[who].push(c.work / (await time(c[who])))
  }
  const k = median(rates.korv)
  const r = median(rates.raw)
  const e = median(rates.codec)
  const range = (xs) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`
  rows.push([c.name, `${k.toFixed(0)} ${c.unit} (${range(rates.korv)})`, `${r.toFixed(0)} ${c.unit} (${range(rates.raw)})`, `${(k / r).toFixed(2)}x`, k / r >= TARGET ? 'yes' : 'no'])
  // Times per unit of work: the ceiling is raw's time over raw's plus the codec's.
  floors.push([c.name, `${e.toFixed(0)} ${c.unit}`, `${r.toFixed(0)} ${c.unit}`, `${(1 / r / (1 / r + 1 / e)).toFixed(2)}x`])
}
console.log('| case | korv (median, min–max) | raw ssh2 (median, min–max) | ratio | target met |')
console.log('|---|---|---|---|---|')
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
console.log('\n| case | spec encoding alone, no transport (median) | raw ssh2 (median) | ceiling: raw / (raw + encoding) |')
console.log('|---|---|---|---|')
for (const row of floors) console.log(`| ${row.join(' | ')} |`)

await client.close()
await server.close()
rawClient.end()
rawServer.close()
