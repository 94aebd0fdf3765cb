// Throughput of the built decoders against hand-written loops and the usual npm packages, all
// measured in the same run: only same-run ratios mean anything on a shared machine.
//
//   node bench/run.mjs [--reps 5] [--mib 256]
//
// Input is in memory, in 64 KiB chunks: 90–110-byte lines, 1 KiB length-prefixed messages, and
// gzip members of 100-byte JSON texts, stored or deflated; PROXY headers come one per first chunk
// of a connection, with 64 bytes of payload behind.
// After a warm-up, contenders alternate (A B C A B C …) so drift in machine load hits all alike.
import { Buffer } from 'node:buffer'
import os from 'node:os'
import process from 'node:process'
import { parseArgs } from 'node:util'
import zlib from 'node:zlib'
import { decode as lpDecode } from 'it-length-prefixed'
import split2 from 'split2'
import { GzipMemberDecoder, LengthPrefixedDecoder, LineDecoder, ProxyHeaderDecoder, decodeFrames, encodeLengthPrefixed, encodeProxyHeader } from '../dist/index.js'

const { values } = parseArgs({
  options: { reps: { type: 'string', default: '5' }, mib: { type: 'string', default: '256' } },
})
const reps = Math.min(20, Math.max(1, Number(values.reps)))
const mib = Math.max(16, Number(values.mib))
const CHUNK = 64 * 1024
// One 16 MiB corpus per case, walked until `mib` MiB have gone through.
const CORPUS = 16 * 1024 * 1024
const passes = Math.round(mib / 16)

function chunked(buf) {
  const chunks = []
  for (let at = 0; at < buf.length; at += CHUNK) chunks.push(buf.subarray(at, at + CHUNK))
  return chunks
}

function lineCorpus() {
  const parts = []
  let size = 0
  let seed = 1
  while (size < CORPUS) {
    seed = (seed * 1_103_515_245 + 12_345) >>> 0
    const line = Buffer.alloc(90 + (seed % 21), 0x61 + (seed % 26))
    line[line.length - 1] = 0x0a
    parts.push(line)
    size += line.length
  }
  return chunked(Buffer.concat(parts))
}

function prefixedCorpus(prefixBytes) {
  const payload = Buffer.alloc(1024, 0x5a)
  const message = encodeLengthPrefixed(payload, { prefixBytes })
  const count = Math.floor(CORPUS / message.length)
  return { chunks: chunked(Buffer.concat(Array.from({ length: count }, () => message))), count }
}

// Every contender hands each frame to the same sink.
let sink = 0
const take = (frame) => {
  sink += frame.length
}

function handLines(chunks) {
  let carry
  for (let chunk of chunks) {
    if (carry !== undefined) {
      chunk = Buffer.concat([carry, chunk])
      carry = undefined
    }
    let start = 0
    let lf
    while ((lf = chunk.indexOf(10, start)) !== -1) {
      take(chunk.subarray(start, lf))
      start = lf + 1
    }
    if (start < chunk.length) carry = Buffer.from(chunk.subarray(start))
  }
}

function ourLines(chunks) {
  const decoder = new LineDecoder()
  for (const chunk of chunks) for (const line of decoder.push(chunk)) take(line)
  decoder.end()
}

function split2Lines(chunks) {
  return new Promise((resolve, reject) => {
    const stream = split2()
    stream.on('data', take)
    stream.on('end', resolve)
    stream.on('error', reject)
    for (const chunk of chunks) stream.write(chunk)
    stream.end()
  })
}

function handPrefixed(prefixBytes) {
  return (chunks) => {
    let carry
    for (let chunk of chunks) {
      if (carry !== undefined) {
        chunk = Buffer.concat([carry, chunk])
        carry = undefined
      }
      let at = 0
      while (chunk.length - at >= prefixBytes) {
        const size = prefixBytes === 4 ? chunk.readUInt32BE(at) : chunk.readUInt32BE(at) * 2 ** 32 + chunk.readUInt32BE(at + 4)
        const end = at + prefixBytes + size
        if (end > chunk.length) break
        take(chunk.subarray(at + prefixBytes, end))
        at = end
      }
      if (at < chunk.length) carry = Buffer.from(chunk.subarray(at))
    }
  }
}

function ourPrefixed(prefixBytes) {
  return (chunks) => {
    const decoder = new LengthPrefixedDecoder({ prefixBytes })
    for (const chunk of chunks) for (const frame of decoder.push(chunk)) take(frame)
    decoder.end()
  }
}

// Members of small JSON texts, as korv sends them: one stored block (copied, no zlib), or deflated
// at zlib's default level (inflated). 1/64 of a line corpus: each member costs far more than a line.
function gzipCorpus(stored) {
  const members = []
  let size = 0
  for (let i = 0; size < CORPUS / 64; i++) {
    const json = Buffer.from(JSON.stringify({ id: 1795353522.6659622 + i, verb: 'GET', resource: '/echo', body: { name: `item-${i}`, n: i } }))
    let body = zlib.deflateRawSync(json)
    if (stored) {
      body = Buffer.alloc(5 + json.length)
      body[0] = 1
      body.writeUInt16LE(json.length, 1)
      body.writeUInt16LE(json.length ^ 0xffff, 3)
      json.copy(body, 5)
    }
    const trailer = Buffer.alloc(8)
    trailer.writeUInt32LE(zlib.crc32(json), 0)
    trailer.writeUInt32LE(json.length, 4)
    const member = Buffer.concat([Buffer.from('1f8b0800000000000003', 'hex'), body, trailer])
    members.push(member)
    size += member.length
  }
  return { members, chunks: chunked(Buffer.concat(members)) }
}

async function ourGzip(chunks) {
  const decoder = new GzipMemberDecoder()
  for (const chunk of chunks) for (const frame of await decoder.push(chunk)) take(frame)
  await decoder.end()
}

// Knows where each member starts and ends, which a stream does not tell.
const gunzipEach = (members) => () => {
  for (const member of members) take(zlib.gunzipSync(member))
}

async function* asyncSource(chunks) {
  for (const chunk of chunks) yield chunk
}

function ourDecodeFrames(prefixBytes) {
  return async (chunks) => {
    for await (const frame of decodeFrames(asyncSource(chunks), new LengthPrefixedDecoder({ prefixBytes }))) take(frame)
  }
}

function itLengthPrefixed(prefixBytes) {
  const lengthDecoder = (list) => {
    if (list.byteLength < prefixBytes) throw new RangeError('short prefix')
    return prefixBytes === 4 ? list.getUint32(0) : Number(list.getBigUint64(0))
  }
  lengthDecoder.bytes = prefixBytes
  return async (chunks) => {
    for await (const frame of lpDecode(asyncSource(chunks), { lengthDecoder, maxDataLength: 16_777_216 })) take(frame)
  }
}

/** Milliseconds for `passes` walks of the corpus. */
async function time(fn, chunks) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < passes; i++) await fn(chunks)
  return Number(process.hrtime.bigint() - start) / 1e6
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

async function measure(contenders, chunks) {
  for (const c of contenders) await c.fn(chunks)
  const times = contenders.map(() => [])
  for (let r = 0; r < reps; r++) {
    for (const [i, c] of contenders.entries()) times[i].push(await time(c.fn, chunks))
  }
  return times
}

const rows = []
function report(caseName, unit, perPass, contenders, times) {
  const rate = (ms) => (perPass * passes) / (ms / 1000)
  const ours = rate(median(times[0]))
  for (const [i, c] of contenders.entries()) {
    const rates = times[i].map(rate)
    const med = rate(median(times[i]))
    const ratio = i === 0 ? '' : `${(ours / med).toFixed(2)}×`
    const target = c.target === undefined ? '' : `≥ ${c.target}×`
    const met = c.target === undefined ? '' : ours / med >= c.target ? 'yes' : 'no'
    rows.push([caseName, c.name, `${fmt(med)} ${unit}`, `${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}`, ratio, target, met])
  }
}
const fmt = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? x.toFixed(0) : x.toFixed(1))

console.log(`@proto/framing benchmark: Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${new Date().toISOString()}`)
console.log(`${mib} MiB per repetition in ${CHUNK / 1024} KiB chunks, median of ${reps} alternating repetitions\n`)

{
  const chunks = lineCorpus()
  const bytes = chunks.reduce((n, c) => n + c.length, 0)
  const contenders = [
    { name: 'LineDecoder', fn: ourLines },
    { name: 'hand indexOf loop', fn: handLines, target: 0.9 },
    { name: 'split2 4.2.0', fn: split2Lines, target: 1.8 },
  ]
  report('lines, 90–110 B', 'MB/s', bytes / 1e6, contenders, await measure(contenders, chunks))
}

for (const prefixBytes of [4, 8]) {
  const { chunks, count } = prefixedCorpus(prefixBytes)
  const width = prefixBytes === 4 ? 'u32' : 'u64'
  const contenders = [
    { name: 'LengthPrefixedDecoder', fn: ourPrefixed(prefixBytes) },
    { name: `hand ${width} BE loop`, fn: handPrefixed(prefixBytes), target: 0.9 },
    { name: 'it-length-prefixed 11.0.1, async', fn: itLengthPrefixed(prefixBytes), target: 2 },
  ]
  report(`${width} BE prefix, 1 KiB`, 'msgs/s', count, contenders, await measure(contenders, chunks))
}

{
  const { chunks, count } = prefixedCorpus(4)
  const contenders = [
    { name: 'decodeFrames(LengthPrefixedDecoder)', fn: ourDecodeFrames(4) },
    { name: 'it-length-prefixed 11.0.1, async', fn: itLengthPrefixed(4), target: 1 },
  ]
  report('u32 BE prefix, 1 KiB, async', 'msgs/s', count, contenders, await measure(contenders, chunks))
}

for (const stored of [true, false]) {
  const { members, chunks } = gzipCorpus(stored)
  const contenders = [
    { name: 'GzipMemberDecoder', fn: ourGzip },
    { name: 'gunzipSync per member, bounds known', fn: gunzipEach(members), ...(stored ? { target: 2 } : {}) },
  ]
  report(`gzip members, 100 B JSON, ${stored ? 'stored' : 'deflated'}`, 'msgs/s', members.length, contenders, await measure(contenders, chunks))
}

// A connection's first chunk: a PROXY header, then the start of the payload.
const HEADERS = 20_000
function headerCorpus(version, tlvs) {
  const tail = Buffer.alloc(64, 0x61)
  return Array.from({ length: HEADERS }, (_, i) => {
    const header = {
      version,
      command: 'proxy',
      transport: 'tcp',
      source: { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60_000) },
      destination: { address: '192.168.0.11', port: 443 },
    }
    return Buffer.concat([encodeProxyHeader(header, { tlvs }), tail])
  })
}

function ourProxyHeaders(chunks) {
  for (const chunk of chunks) {
    const decoded = new ProxyHeaderDecoder().push(chunk)
    take(decoded.header.source.address)
  }
}

// The least a receiver can do: find the end and cut the fields, checking nothing.
function handV1(chunks) {
  for (const chunk of chunks) {
    const end = chunk.indexOf(10)
    const fields = chunk.toString('latin1', 6, end - 1).split(' ')
    take(fields[1])
  }
}

function handV2(chunks) {
  for (const chunk of chunks) {
    const end = 16 + chunk.readUInt16BE(14)
    take(`${chunk[16]}.${chunk[17]}.${chunk[18]}.${chunk[19]}`)
    if (end > chunk.length) throw new Error('short header')
  }
}

for (const [caseName, version, tlvs, hand] of [
  ['PROXY v1 TCP4 header', 1, [], handV1],
  ['PROXY v2 TCP4 header, 2 TLVs', 2, [{ type: 1, value: Buffer.from('h2') }, { type: 2, value: Buffer.from('example.com') }], handV2],
]) {
  const chunks = headerCorpus(version, tlvs)
  const contenders = [
    { name: 'ProxyHeaderDecoder', fn: ourProxyHeaders },
    { name: `hand v${version} cut, no checks`, fn: hand },
  ]
  report(caseName, 'headers/s', HEADERS, contenders, await measure(contenders, chunks))
}

const header = ['case', 'contender', 'median', 'min–max', 'ours ÷ contender', 'target', 'met']
console.log(`| ${header.join(' | ')} |`)
console.log(`|${header.map(() => '---').join('|')}|`)
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
if (sink < 0) console.log(sink)
