// The soak run: for each protocol in turn, a server on 127.0.0.1 takes mixed traffic for
// --minutes (default 10): well-behaved clients in a loop, checking every answer, beside one
// hostile peer cycling through the attacks of the reliability suite. At the end of each
// protocol it prints the requests served, the well-behaved requests that failed, the hostile
// connections made, the clientErrors reported and the process's peak RSS.
//
//   pnpm soak [--minutes N] [--only karp,tej,...] [--workers N]
//
// Exit status 1 if any well-behaved request failed or a server did not close.
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'

const HOST = '127.0.0.1'
const MiB = 1_048_576
const PROTOCOLS = ['karp', 'tej', 'oneline', 'krpc', 'korv']

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    only: { type: 'string' },
    workers: { type: 'string', default: '8' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  console.log('usage: node soak/run.mjs [--minutes N (per protocol, default 10)] [--only karp,tej,oneline,krpc,korv] [--workers N (default 8)]')
  process.exit(0)
}
const minutes = Number(values.minutes)
const workers = Number(values.workers)
if (!(minutes > 0) || !Number.isInteger(workers) || workers < 1) {
  console.error('--minutes must be a positive number and --workers a positive integer')
  process.exit(2)
}
const selected = values.only === undefined ? PROTOCOLS : values.only.split(',')
for (const name of selected) {
  if (!PROTOCOLS.includes(name)) {
    console.error(`unknown protocol ${name}; one of ${PROTOCOLS.join(', ')}`)
    process.exit(2)
  }
}

// --- shared pieces ------------------------------------------------------------------------

/** Peak RSS, sampled every 100 ms while a protocol runs. */
function rssWatch() {
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 100)
  return {
    stop() {
      clearInterval(timer)
      return Math.max(peak, process.memoryUsage.rss())
    },
  }
}

/** Resolves after `ms`; the soak paces nothing else with timers. */
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A raw socket to the server; resolves once connected, never throws on the peer's reset. */
async function rawSocket(port) {
  const socket = net.connect({ host: HOST, port })
  socket.on('error', () => {})
  socket.resume()
  await once(socket, 'connect')
  return socket
}

/**
 * Runs one hostile exchange on a raw socket, never for longer than `ms`: whatever the attack
 * waits for, the socket is destroyed at the deadline, so no attack can stall the soak.
 */
async function hostile(port, ms, attack) {
  const socket = await rawSocket(port)
  const closed = new Promise((resolve) => socket.once('close', resolve))
  const deadline = setTimeout(() => socket.destroy(), ms)
  try {
    await Promise.race([attack(socket), closed])
  } catch {
    // The attack's own failure is the server refusing it: that is the point.
  } finally {
    clearTimeout(deadline)
    socket.destroy()
  }
}

/** Writes `bytes` repeatedly until `total` bytes or the socket closes, honouring 'drain'. */
async function flood(socket, bytes, total) {
  for (let sent = 0; sent < total && !socket.destroyed && socket.writable; sent += bytes.length) {
    if (!socket.write(bytes)) {
      await new Promise((resolve) => {
        const done = () => {
          socket.off('drain', done)
          socket.off('close', done)
          resolve()
        }
        socket.on('drain', done)
        socket.on('close', done)
      })
    }
  }
}

/** Writes, then waits for the kernel to take it. */
const sent = (socket, bytes) => new Promise((resolve) => socket.write(bytes, () => resolve()))

/**
 * Drives one protocol: `workers` loops of `request()` and one loop of hostile attacks until
 * the deadline, then closes the server (with a 10 s grace before it is forced).
 */
async function soak(name, { server, port, worker, attacks }) {
  const stats = { served: 0, errors: 0, hostile: 0, clientErrors: 0, firstError: undefined }
  server.on('clientError', () => {
    stats.clientErrors++
  })
  const rss = rssWatch()
  const deadline = Date.now() + minutes * 60_000
  const loops = Array.from({ length: workers }, async (_, index) => {
    while (Date.now() < deadline) {
      try {
        stats.served += await worker(index, deadline)
      } catch (err) {
        stats.errors++
        stats.firstError ??= err
        // A failed client starts over after a breath rather than spinning on a broken server.
        await pause(100)
      }
    }
  })
  const attacker = (async () => {
    for (let round = 0; Date.now() < deadline; round++) {
      const attack = attacks[round % attacks.length]
      stats.hostile++
      await attack(port)
      // Mixed traffic, not a flood of attacks: the well-behaved clients get the time between.
      await pause(ATTACK_INTERVAL)
    }
  })()
  await Promise.all([...loops, attacker])
  const grace = AbortSignal.timeout(10_000)
  let closedCleanly = true
  await Promise.race([
    server.close({ signal: grace }),
    once(grace, 'abort').then(() => {
      closedCleanly = false
    }),
  ])
  const peak = rss.stop()
  console.log(
    `${name}: ${stats.served} requests served, ${stats.errors} errors, ${stats.hostile} hostile connections, ` +
      `${stats.clientErrors} clientErrors, peak RSS ${(peak / MiB).toFixed(1)} MiB` +
      (closedCleanly ? '' : ', server did not close within 10 s'),
  )
  if (stats.firstError !== undefined) console.log(`  first error: ${stats.firstError?.code ?? ''} ${stats.firstError?.message ?? stats.firstError}`)
  return stats.errors === 0 && closedCleanly
}

/** Milliseconds between the end of one hostile connection and the start of the next. */
const ATTACK_INTERVAL = 200

/** Requests made on one connection before a worker opens a new one. */
const PER_CONNECTION = 200

// --- protocols ----------------------------------------------------------------------------

async function soakKarp() {
  const karp = await import('@proto/karp')
  const server = karp.createServer({ limits: { maxFrameBytes: MiB }, handlers: { echo: (request) => request.data } })
  const { port } = await server.listen({ host: HOST, port: 0 })
  const frame = (id, payload, length) => {
    const data = Buffer.from(payload).toString('base64')
    return `KARP_HEADecho01${id}C_LEN${length ?? data.length}KARP_DATA${data}KARP_END\n`
  }
  return soak('karp', {
    server,
    port,
    async worker(_index, deadline) {
      const connection = await karp.connect({ host: HOST, port, timeout: 10_000 })
      let done = 0
      try {
        for (; done < PER_CONNECTION && Date.now() < deadline; done++) {
          const payload = randomBytes(Math.floor(Math.random() * 4096))
          const reply = await connection.request('echo', payload)
          if (!Buffer.from(reply.data).equals(payload)) throw new Error('karp echo came back different')
        }
      } finally {
        await connection.close()
      }
      return done
    },
    attacks: [
      (p) => hostile(p, 2_000, (s) => flood(s, Buffer.from('garbage line\n'.repeat(5_000)), 256 * 1024)),
      (p) => hostile(p, 2_000, (s) => flood(s, Buffer.alloc(65_536, 'K'), 4 * MiB)),
      (p) => hostile(p, 2_000, async (s) => s.write(frame('0000000000000001', 'x', '9223372036854775808'))),
      (p) => hostile(p, 2_000, async (s) => {
        await sent(s, frame('0000000000000002', 'half').slice(0, 30))
        s.resetAndDestroy()
      }),
      (p) => hostile(p, 2_000, async (s) => s.end('KARP_HEADecho01000')),
    ],
  })
}

async function soakTej() {
  const tej = await import('@proto/tej')
  const server = tej.createServer({
    limits: { idleTimeout: 5_000 },
    handler: async (frame, ctx) => {
      await ctx.connection.send(await frame.buffer())
    },
  })
  const { port } = await server.listen({ host: HOST, port: 0 })
  const u64 = (value) => {
    const bytes = Buffer.alloc(8)
    bytes.writeBigUInt64BE(value)
    return bytes
  }
  return soak('tej', {
    server,
    port,
    async worker(_index, deadline) {
      const conn = await tej.connect({ host: HOST, port })
      const frames = conn[Symbol.asyncIterator]()
      let done = 0
      try {
        for (; done < PER_CONNECTION && Date.now() < deadline; done++) {
          const data = randomBytes(Math.floor(Math.random() * 16_384))
          await conn.send({ status: 1, files: [{ name: 'f.bin', data }], message: 'soak' })
          const next = await frames.next()
          if (next.done) throw new Error('tej connection ended')
          const reply = await next.value.buffer()
          if (!Buffer.from(reply.files[0]?.data ?? []).equals(data)) throw new Error('tej echo came back different')
        }
      } finally {
        await conn.close()
      }
      return done
    },
    attacks: [
      (p) => hostile(p, 2_000, async (s) => s.write(Buffer.concat([Buffer.of(0x81, 1), u64(2n ** 63n)]))),
      (p) => hostile(p, 2_000, async (s) => s.write(Buffer.concat([Buffer.of(0x81, 7), u64(0n), u64(0n)]))),
      (p) => hostile(p, 2_000, async (s) => {
        await sent(s, Buffer.concat([Buffer.of(0x81, 1), u64(1n), Buffer.of(0, 1, 0x61), u64(1_000_000n), Buffer.alloc(10_000)]))
        s.resetAndDestroy()
      }),
      (p) => hostile(p, 2_000, async (s) => s.end(Buffer.concat([Buffer.of(0x81, 1), u64(0n), u64(100n), Buffer.alloc(10)]))),
      (p) => hostile(p, 2_000, (s) => flood(s, Buffer.concat([Buffer.of(0x81, 1), u64(0n), u64(BigInt(64 * MiB))]), 1)),
    ],
  })
}

async function soakOneline() {
  const oneline = await import('@proto/oneline')
  const server = oneline.createServer({ handler: oneline.demoHandler, allowShutdown: false, limits: { idleTimeout: 2_000, maxQueue: 64 } })
  const { port } = await server.listen({ host: HOST, port: 0 })
  return soak('oneline', {
    server,
    port,
    async worker(index, deadline) {
      // One client at a time: each worker's turn is a short session, so the others and the
      // attacker get theirs.
      const client = await oneline.connect({ host: HOST, port, timeout: 60_000 })
      let done = 0
      try {
        for (; done < 20 && Date.now() < deadline; done++) {
          const word = `w${index}-${done}-${randomBytes(4).toString('hex')}`
          const [reply] = await client.request(`echo ${word}`)
          if (reply !== word) throw new Error('oneline echo came back different')
        }
      } finally {
        await client.close()
      }
      return done
    },
    attacks: [
      (p) => hostile(p, 10_000, (s) => flood(s, Buffer.alloc(65_536, 'o'), 2 * MiB)),
      (p) => hostile(p, 10_000, async (s) => {
        await sent(s, 'echo half')
        s.resetAndDestroy()
      }),
      (p) => hostile(p, 10_000, async (s) => s.end('echo one\necho tw')),
    ],
  })
}

async function soakKrpc() {
  const krpc = await import('@proto/krpc')
  const server = krpc.createServer({
    handlers: {
      echo: (value) => value,
      upload: async (file) => {
        let size = 0
        for await (const chunk of file) size += chunk.length
        return size
      },
    },
    limits: { headersTimeout: 2_000, requestTimeout: 10_000, bodyTimeout: 2_000 },
  })
  const { port } = await server.listen({ host: HOST, port: 0 })
  const head = (lines) => `${lines.join('\r\n')}\r\n\r\n`
  return soak('krpc', {
    server,
    port,
    async worker(index, deadline) {
      const client = await krpc.connect({ url: `http://${HOST}:${port}/`, timeout: 10_000 })
      let done = 0
      try {
        for (; done < PER_CONNECTION && Date.now() < deadline; done++) {
          if ((done + index) % 10 === 0) {
            const data = randomBytes(Math.floor(Math.random() * 65_536))
            if ((await client.call('upload', [krpc.asFile(data)])) !== data.length) throw new Error('krpc upload size differs')
          } else {
            const word = randomBytes(16).toString('hex')
            if ((await client.call('echo', [word])) !== word) throw new Error('krpc echo came back different')
          }
        }
      } finally {
        await client.close()
      }
      return done
    },
    attacks: [
      (p) => hostile(p, 3_000, async (s) => {
        s.write(head(['POST / HTTP/1.1', 'Host: x', 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${8 * MiB}`]) + 'json=')
        await flood(s, Buffer.alloc(65_536, 'a'), 8 * MiB)
      }),
      (p) => hostile(p, 3_000, async (s) => {
        const parts = '--b\r\nContent-Disposition: form-data; name="p"\r\n\r\nv\r\n'.repeat(2_000)
        s.write(head(['POST / HTTP/1.1', 'Host: x', 'Content-Type: multipart/form-data; boundary=b', `Content-Length: ${parts.length}`]) + parts)
      }),
      (p) => hostile(p, 3_000, async (s) => {
        const body = '--b\r\nContent-Disposition: form-data; name="json"\r\n\r\n{"method":"upload","params":["__file__:f"]}\r\n'
          + '--b\r\nContent-Disposition: form-data; name="__file__:f"; filename="f"\r\n\r\n' + 'x'.repeat(10_000)
        await sent(s, head(['POST / HTTP/1.1', 'Host: x', 'Content-Type: multipart/form-data; boundary=b', 'Content-Length: 999999']) + body)
        s.resetAndDestroy()
      }),
      (p) => hostile(p, 3_000, (s) => flood(s, Buffer.from('GET /'), 64 * 1024)),
      (p) => hostile(p, 3_000, async (s) => s.write('GET /?json=%7Bnot-json HTTP/1.1\r\nHost: x\r\n\r\n')),
    ],
  })
}

async function soakKorv() {
  const korv = await import('@proto/korv')
  const ssh2 = (await import('ssh2')).default
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private
  const pair = ssh2.utils.generateKeyPairSync('ed25519')
  const server = korv.createServer({
    hostKeys: [hostKey],
    authorizedKeys: pair.public,
    routes: { GET: { '/echo': (ctx) => ({ code: 200, body: ctx.body }) } },
    limits: { handshakeTimeout: 5_000, idleTimeout: 10_000 },
  })
  const { port } = await server.listen({ host: HOST, port: 0 })
  /** An authenticated ssh2 session with its channel, for attacks past the handshake. */
  const rawChannel = async (socket) => {
    const session = new ssh2.Client()
    session.on('error', () => {})
    await new Promise((resolve, reject) => {
      session.once('ready', resolve)
      session.once('error', reject)
      session.connect({ sock: socket, username: 'korv', privateKey: pair.private, hostVerifier: () => true, algorithms: { compress: ['none'] } })
    })
    const channel = await new Promise((resolve, reject) =>
      session.forwardOut('', 0, HOST, port, (err, stream) => (err ? reject(err) : resolve(stream))),
    )
    channel.on('error', () => {})
    channel.resume()
    return channel
  }
  const bomb = gzipSync(`{"id":1,"verb":"GET","resource":"/echo","body":"${'a'.repeat(16 * MiB)}"}`, { level: 9 })
  return soak('korv', {
    server,
    port,
    async worker(_index, deadline) {
      const client = await korv.connect({ host: HOST, port, privateKey: pair.private, insecureAcceptAnyHostKey: true, timeout: 10_000 })
      let done = 0
      try {
        for (; done < PER_CONNECTION && Date.now() < deadline; done++) {
          const body = { n: done, text: randomBytes(64).toString('hex') }
          const reply = await client.get('/echo', body)
          if (reply.code !== 200 || JSON.stringify(reply.body) !== JSON.stringify(body)) throw new Error('korv echo came back different')
        }
      } finally {
        await client.close()
      }
      return done
    },
    attacks: [
      (p) => hostile(p, 5_000, async (s) => {
        const channel = await rawChannel(s)
        channel.write(bomb)
        await once(channel, 'close')
      }),
      (p) => hostile(p, 5_000, async (s) => {
        const channel = await rawChannel(s)
        channel.write(Buffer.alloc(20_000, 0x41))
        channel.end(gzipSync('{"id":2,"verb":"GET"').subarray(0, 12))
        await once(channel, 'close')
      }),
      (p) => hostile(p, 5_000, async (s) => {
        const channel = await rawChannel(s)
        await new Promise((resolve) => channel.write(gzipSync('{"id":3,"verb":"GET","resource":"/echo"}').subarray(0, 15), resolve))
        s.resetAndDestroy()
      }),
      (p) => hostile(p, 5_000, (s) => flood(s, Buffer.from('SSH-2.0-garbage\r\n'.padEnd(4_096, 'g')), 64 * 1024)),
    ],
  })
}

const runners = { karp: soakKarp, tej: soakTej, oneline: soakOneline, krpc: soakKrpc, korv: soakKorv }
console.log(
  `soak: ${minutes} min per protocol (${selected.join(', ')}), ${workers} clients each, all on ${HOST}; ` +
    `Node ${process.version}, ${new Date().toISOString()}`,
)
let ok = true
for (const name of selected) ok = (await runners[name]()) && ok
process.exit(ok ? 0 : 1)
