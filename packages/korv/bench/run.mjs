// korv against raw ssh2, in the same run: the same SSH transport (ssh2 server and client,
// compression off), once carrying korv's gzip-JSON requests and once carrying the same JSON
// bytes, uncompressed, to a server that echoes them. Contenders alternate (korv, raw, …) after
// warm-up passes; each row shows medians over the repetitions and same-run ratios. Drives the
// built dist/. For large bodies korv also runs at compression level 0 (stored blocks only).
//
// Work korv does that raw ssh2 does not is also timed alone, with no transport: its encoding
// (each round trip's request and reply encoded, decoded by framing's GzipMemberDecoder in
// SSH-packet-sized chunks, and parsed), the JSON text alone (JSON.stringify and JSON.parse of
// both), and that text with the copies a protocol on bytes cannot avoid (to bytes and back, as
// Latin-1: the JSON here is ASCII, as korv's always is). korv pays that on top of what raw ssh2
// pays, so raw / (raw + work) is the most korv could reach: the second table.
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
// Targets: korv at default settings against raw ssh2, per case; korv at level 0 against the
// ceiling the JSON text work alone leaves.
const TARGET = { seq: 0.8, pipelined: 0.8, large: 0.2 }
const LEVEL0_TARGET = 0.8

function keyPair() {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519')
    if (!(ssh2.utils.parseKey(pair.public) instanceof Error) && !(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair
  }
}
const hostKey = keyPair()
const clientKey = keyPair()
const big = 64 * 1024 * 1024
const limits = { maxMessageBytes: big, maxJsonBytes: big }

// korv: a server with GET /echo and one client, per compression setting.
async function korvPair(compression) {
  const server = createServer({
    hostKeys: [hostKey.private],
    authorizedKeys: `${clientKey.public}\n`,
    handlers: { GET: { '/echo': (request) => ({ code: 200, body: request.body }) } },
    limits,
    ...(compression === undefined ? {} : { compression }),
  })
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  const client = await connect({
    port,
    privateKey: clientKey.private,
    insecureAcceptAnyHostKey: true,
    limits,
    ...(compression === undefined ? {} : { compression }),
    timeout: 600_000,
  })
  return { server, client }
}
const korv = await korvPair(undefined)
const stored = await korvPair({ level: 0 })

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

// korv's encoding alone: what one round trip costs both ends without the transport.
const serverDecoder = createMessageDecoder(limits)
const clientDecoder = createMessageDecoder(limits)
const SSH_PACKET_BYTES = 32 * 1024
async function decodeInPackets(decoder, member) {
  const frames = []
  for (let at = 0; at < member.length; at += SSH_PACKET_BYTES) frames.push(...(await decoder.push(member.subarray(at, at + SSH_PACKET_BYTES))))
  return frames
}
async function codecRoundTrip(body, compression) {
  const [request] = await decodeInPackets(serverDecoder, encodeMessage({ id: Date.now() / 1000, verb: 'GET', resource: '/echo', body }, limits, compression))
  const { id, body: echoed } = parseRequest(request)
  const [reply] = await decodeInPackets(clientDecoder, encodeMessage({ id: Date.now() / 1000, request_id: id, code: 200, body: echoed }, limits, compression))
  return parseResponse(reply)
}
// The JSON text alone: each value to text and back.
function jsonRoundTrip(body) {
  const request = JSON.parse(JSON.stringify({ id: Date.now() / 1000, verb: 'GET', resource: '/echo', body }))
  return JSON.parse(JSON.stringify({ id: Date.now() / 1000, request_id: request.id, code: 200, body: request.body }))
}
// The same text carried as bytes: each value to JSON bytes and back.
const viaBytes = (text) => Buffer.from(text, 'latin1').toString('latin1')
function jsonBytesRoundTrip(body) {
  const request = JSON.parse(viaBytes(JSON.stringify({ id: Date.now() / 1000, verb: 'GET', resource: '/echo', body })))
  return JSON.parse(viaBytes(JSON.stringify({ id: Date.now() / 1000, request_id: request.id, code: 200, body: request.body })))
}

const smallBody = { name: 'item', n: 1, tags: ['a', 'b'] }
// A raw round trip carries what korv's GET /echo puts on the wire as JSON, uncompressed.
const smallRaw = Buffer.from(JSON.stringify({ id: 1795353522.6659622, verb: 'GET', resource: '/echo', body: smallBody }))
const largeBody = Array.from({ length: 12_000 }, (_, i) => ({ id: i, name: `item-${i}`, price: (i * 37) % 1000 / 10, tags: ['x', `t${i % 17}`], active: i % 3 === 0 }))
const largeRaw = Buffer.from(JSON.stringify(largeBody))

const sequential = (client, body) => async (count) => {
  for (let i = 0; i < count; i++) await client.get('/echo', body)
}
const pipelined = (client, body) => async (count) => {
  let next = 0
  const lane = async () => {
    while (next++ < count) await client.get('/echo', body)
  }
  await Promise.all(Array.from({ length: DEPTH }, lane))
}
const repeat = (once) => async (count) => {
  for (let i = 0; i < count; i++) await once()
}

const cases = [
  {
    name: `sequential round trips (${SEQ}, ${smallRaw.length}-byte request)`,
    target: TARGET.seq,
    unit: 'req/s',
    count: SEQ,
    work: SEQ,
    korv: sequential(korv.client, smallBody),
    raw: repeat(() => rawExchange(smallRaw)),
    encoding: repeat(() => codecRoundTrip(smallBody)),
    json: repeat(() => jsonRoundTrip(smallBody)),
  },
  {
    name: `pipelined round trips (${PIPELINED}, ${DEPTH} in flight)`,
    target: TARGET.pipelined,
    unit: 'req/s',
    count: PIPELINED,
    work: PIPELINED,
    korv: pipelined(korv.client, smallBody),
    raw: async (count) => {
      for (let sent = 0; sent < count; sent += DEPTH) await rawExchange(smallRaw, Math.min(DEPTH, count - sent))
    },
    encoding: repeat(() => codecRoundTrip(smallBody)),
    json: repeat(() => jsonRoundTrip(smallBody)),
  },
  {
    name: `large body round trips (${LARGE} × ${(largeRaw.length / 1024 / 1024).toFixed(2)} MiB JSON)`,
    target: TARGET.large,
    unit: 'MB/s',
    count: LARGE,
    work: (LARGE * largeRaw.length * 2) / 1e6,
    korv: sequential(korv.client, largeBody),
    'korv level 0': sequential(stored.client, largeBody),
    raw: repeat(() => rawExchange(largeRaw)),
    encoding: repeat(() => codecRoundTrip(largeBody)),
    'encoding level 0': repeat(() => codecRoundTrip(largeBody, { level: 0 })),
    json: repeat(() => jsonRoundTrip(largeBody)),
    'json bytes': repeat(() => jsonBytesRoundTrip(largeBody)),
  },
]
const TRANSPORTED = ['korv', 'korv level 0', 'raw']
const ALONE = {
  encoding: 'korv encoding',
  'encoding level 0': 'korv encoding, level 0',
  json: 'JSON alone',
  'json bytes': 'JSON alone, as bytes',
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}
async function time(fn, count) {
  const start = process.hrtime.bigint()
  await fn(count)
  return Number(process.hrtime.bigint() - start) / 1e9
}
const fixed = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1))

console.log(`korv benchmark: Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${new Date().toISOString()}`)
console.log(`load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ${REPS} repetitions per contender, alternating after ${WARMUP} warm-up passes each\n`)
const rows = []
const ceilings = []
for (const c of cases) {
  const who = Object.keys(c).filter((key) => typeof c[key] === 'function')
  for (let pass = 0; pass < WARMUP; pass++) for (const w of who) await c[w](c.count)
  const rates = Object.fromEntries(who.map((w) => [w, []]))
  for (let rep = 0; rep < REPS; rep++) for (const w of who) rates[w].push(c.work / (await time(c[w], c.count)))
  const rate = Object.fromEntries(who.map((w) => [w, median(rates[w])]))
  const range = (xs) => `${fixed(Math.min(...xs))}–${fixed(Math.max(...xs))}`
  for (const w of TRANSPORTED.filter((t) => rates[t] !== undefined)) {
    const ratio = w === 'raw' ? '' : `${(rate[w] / rate.raw).toFixed(2)}x`
    const target = w === 'korv' ? `≥ ${c.target}x` : ''
    const met = w === 'korv' ? (rate[w] / rate.raw >= c.target ? 'yes' : 'no') : ''
    rows.push([c.name, w === 'raw' ? 'raw ssh2' : w, `${fixed(rate[w])} ${c.unit} (${range(rates[w])})`, ratio, target, met])
  }
  // Times per unit of work add up: the ceiling is raw's time over raw's plus the work's.
  for (const [w, label] of Object.entries(ALONE).filter(([w]) => rates[w] !== undefined)) {
    const ceiling = 1 / rate.raw / (1 / rate.raw + 1 / rate[w])
    const level0 = w.startsWith('json') && rate['korv level 0'] !== undefined ? rate['korv level 0'] / rate.raw / ceiling : undefined
    ceilings.push([
      c.name,
      label,
      `${fixed(rate[w])} ${c.unit}`,
      `${ceiling.toFixed(2)}x`,
      level0 === undefined ? '' : `${level0.toFixed(2)}x${w === 'json' ? ` (≥ ${LEVEL0_TARGET}x: ${level0 >= LEVEL0_TARGET ? 'yes' : 'no'})` : ''}`,
    ])
  }
}
console.log('| case | contender | median (min–max) | ÷ raw ssh2 | target | met |')
console.log('|---|---|---|---|---|---|')
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
console.log('\n| case | work alone, no transport | median | ceiling: raw / (raw + work) | korv level 0 ÷ ceiling |')
console.log('|---|---|---|---|---|')
for (const row of ceilings) console.log(`| ${row.join(' | ')} |`)

for (const pair of [korv, stored]) {
  await pair.client.close()
  await pair.server.close()
}
rawClient.end()
rawServer.close()
