// Memory one connection holds while a peer sends an unfinished frame in 1-byte segments, for each
// decoder of the built package. Every case runs in its own process, so the resident size is its own.
//
//   node bench/memory.mjs [--kib 1024] [--frame-kib 16384] [--only line,socket,prefixed,reader,views]
//
// `held` is what JavaScript holds after a full collection (V8 heap in use plus ArrayBuffers), `rss`
// the growth of the resident set; both are read while the decoder still holds the bytes. Each
// case attacks two connections one after the other and reports the second: the first pays for
// what the process keeps once (compiled code, a heap grown by a million short-lived Buffers).
//   line      LineDecoder({ maxLineBytes: kib }), kib − 1 bytes of one line, 1-byte chunks, each in
//             its own 1-byte ArrayBuffer as a socket read gives them
//   socket    the same through a FramedConnection over 127.0.0.1, the client writing 1 byte per
//             segment (it sends the next byte once the server has read the last)
//   prefixed  LengthPrefixedDecoder: a prefix announcing frame-kib, then frame-kib − 1 bytes of it
//             in 1-byte chunks
//   reader    ByteReader.bytes(kib) waiting, kib − 1 bytes received in 1-byte chunks
//   views     LineDecoder, 1-byte chunks that are views into separate 4 KiB ArrayBuffers (as a
//             parser's slices of one read), kib / 64 bytes of a line
import { Buffer } from 'node:buffer'
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import process from 'node:process'
import { parseArgs } from 'node:util'
import { ByteReader, FramedConnection, LengthPrefixedDecoder, LineDecoder, encodeLengthPrefix } from '../dist/index.js'

const { values } = parseArgs({
  options: {
    kib: { type: 'string', default: '1024' },
    'frame-kib': { type: 'string', default: '16384' },
    only: { type: 'string', default: 'line,socket,prefixed,reader,views' },
    case: { type: 'string' },
  },
})
const KiB = 1024
const MiB = KiB * KiB
const kib = Number(values.kib)
const frameKib = Number(values['frame-kib'])

function reading() {
  globalThis.gc()
  globalThis.gc()
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage()
  return { rss, held: heapUsed + arrayBuffers }
}

/** A 1-byte chunk in its own ArrayBuffer, as `net.Socket` delivers a 1-byte read. */
const own = () => Buffer.allocUnsafeSlow(1).fill(0x61)

const cases = {
  line() {
    const bytes = kib * KiB - 1
    const decoder = new LineDecoder({ maxLineBytes: kib * KiB })
    const base = reading()
    for (let i = 0; i < bytes; i++) decoder.push(own())
    return { bytes, base, now: reading(), keep: decoder }
  },
  prefixed() {
    const size = frameKib * KiB
    const bytes = size - 1
    const decoder = new LengthPrefixedDecoder({ maxFrameBytes: size })
    const base = reading()
    decoder.push(encodeLengthPrefix(size, { maxFrameBytes: size }))
    for (let i = 0; i < bytes; i++) decoder.push(own())
    return { bytes, base, now: reading(), keep: decoder }
  },
  async reader() {
    const size = kib * KiB
    const bytes = size - 1
    let resolveHeld
    const held = new Promise((resolve) => (resolveHeld = resolve))
    let base
    async function* source() {
      base = reading()
      for (let i = 0; i < bytes; i++) yield own()
      resolveHeld(reading())
      await new Promise(() => {})
    }
    const reader = new ByteReader(source(), { maxReadBytes: size })
    void reader.bytes(size)
    const now = await held
    return { bytes, base, now, keep: reader }
  },
  views() {
    const bytes = (kib * KiB) / 64
    const decoder = new LineDecoder({ maxLineBytes: kib * KiB })
    const base = reading()
    for (let i = 0; i < bytes; i++) decoder.push(Buffer.allocUnsafeSlow(4 * KiB).fill(0x61).subarray(100, 101))
    return { bytes, base, now: reading(), keep: decoder }
  },
  async socket() {
    const bytes = kib * KiB - 1
    const listener = net.createServer({ allowHalfOpen: true }).listen(0, '127.0.0.1')
    await once(listener, 'listening')
    const client = net.connect({ host: '127.0.0.1', port: listener.address().port, allowHalfOpen: true })
    const [[socket]] = await Promise.all([once(listener, 'connection'), once(client, 'connect')])
    client.setNoDelay(true)
    const line = new LineDecoder({ maxLineBytes: kib * KiB })
    let received = 0
    let resolveHeld
    const held = new Promise((resolve) => (resolveHeld = resolve))
    const one = Buffer.from('a')
    // Each read reaches the decoder: the next byte leaves only then, so every segment is 1 byte.
    const decoder = {
      get buffered() {
        return line.buffered
      },
      get error() {
        return line.error
      },
      push(chunk) {
        received += chunk.length
        const frames = line.push(chunk)
        if (received < bytes) client.write(one)
        else resolveHeld()
        return frames
      },
      end: () => line.end(),
    }
    const conn = new FramedConnection(socket, { decoder })
    const frames = conn.frames()
    void frames.next()
    const base = reading()
    client.write(one)
    await held
    const now = reading()
    return { bytes, base, now, keep: [conn, client, listener], segments: received }
  },
}

if (values.case !== undefined) {
  // Both stay alive until the reading is printed.
  const attacked = [await cases[values.case]()]
  attacked.push(await cases[values.case]())
  const { bytes, base, now } = attacked[1]
  console.log(JSON.stringify({ bytes, held: now.held - base.held, rss: now.rss - base.rss }))
  process.exit(0)
}

const names = values.only.split(',')
const describe = {
  line: `LineDecoder, ${kib} KiB line, 1-byte chunks`,
  socket: `FramedConnection + LineDecoder, ${kib} KiB line, 1-byte TCP segments`,
  prefixed: `LengthPrefixedDecoder, ${frameKib} KiB frame, 1-byte chunks`,
  reader: `ByteReader.bytes(${kib} KiB), 1-byte chunks`,
  views: `LineDecoder, ${kib / 64} KiB line, 1-byte views of 4 KiB buffers`,
}
console.log(`@proto/framing memory: Node ${process.version}, ${new Date().toISOString()}\n`)
const header = ['case', 'bytes held', 'held', 'held ÷ bytes', 'rss', 'rss ÷ bytes']
console.log(`| ${header.join(' | ')} |`)
console.log(`|${header.map(() => '---').join('|')}|`)
const mib = (n) => (Math.abs(n) >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${(n / KiB).toFixed(1)} KiB`)
for (const name of names) {
  const args = ['--expose-gc', '--max-old-space-size=16384', new URL(import.meta.url).pathname, '--case', name, '--kib', String(kib), '--frame-kib', String(frameKib)]
  const out = execFileSync(process.execPath, args, { encoding: 'utf8' })
  const { bytes, held, rss } = JSON.parse(out)
  console.log(`| ${describe[name]} | ${mib(bytes)} | ${mib(held)} | ${(held / bytes).toFixed(2)} | ${mib(rss)} | ${(rss / bytes).toFixed(2)} |`)
}
