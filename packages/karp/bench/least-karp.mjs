// The least work any implementation of the KARP spec does for one sequential round trip, written
// out with no library: the frame header and base64 both ways, one promise and one map entry per
// request, and framing.md's batching (the first write of a tick corks, `process.nextTick`
// uncorks). It checks nothing, has no timeouts and no limits. Its ratio to raw TCP is the ceiling
// that the wire format and the prescribed batching leave to a full implementation.
import { Buffer } from 'node:buffer'
import net from 'node:net'
import process from 'node:process'

function encodeFrame(route, typeAndFlag, id, data) {
  const b64 = data.toString('base64')
  return Buffer.from(`KARP_HEAD${route}${typeAndFlag}${id}C_LEN${b64.length}KARP_DATA${b64}KARP_END\n`, 'latin1')
}

/** Route (empty for a response), id and data of a well-formed line, LF removed. */
function parseFrame(line) {
  let at = 'KARP_HEAD'.length
  let route = ''
  if (line.charCodeAt(at) !== 0x31) {
    const end = line.indexOf('0', at)
    route = line.slice(at, end)
    at = end
  }
  at += 2
  const id = line.slice(at, at + 16)
  const dataStart = line.indexOf('KARP_DATA', at + 16) + 'KARP_DATA'.length
  const dataEnd = line.indexOf('KARP_END', dataStart)
  return { route, id, data: Buffer.from(line.slice(dataStart, dataEnd), 'base64') }
}

function onLines(socket, onLine) {
  let carry = ''
  socket.on('data', (chunk) => {
    const text = carry + chunk.toString('latin1')
    let start = 0
    for (let lf = text.indexOf('\n'); lf !== -1; lf = text.indexOf('\n', start)) {
      onLine(text.slice(start, lf))
      start = lf + 1
    }
    carry = text.slice(start)
  })
}

function batchedWriter(socket) {
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork()
  }
  return (frame) => {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    socket.write(frame)
  }
}

/** A contender with `sequential(n)` echoing `payload` through a bare KARP server and client. */
export async function leastKarpContender(payload) {
  const server = net.createServer({ noDelay: true }, (socket) => {
    const write = batchedWriter(socket)
    onLines(socket, (line) => {
      const frame = parseFrame(line)
      write(encodeFrame('', '11', frame.id, frame.data))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const socket = net.connect({ port: server.address().port, host: '127.0.0.1', noDelay: true })
  await new Promise((resolve) => socket.once('connect', resolve))
  const write = batchedWriter(socket)
  const pending = new Map()
  // Unique 16-digit ids without a random source: the least an id can cost.
  let nextId = 1_000_000_000_000_000
  onLines(socket, (line) => {
    const frame = parseFrame(line)
    const resolve = pending.get(frame.id)
    pending.delete(frame.id)
    resolve(frame.data)
  })
  const request = (data) =>
    new Promise((resolve) => {
      const id = String(nextId++)
      pending.set(id, resolve)
      write(encodeFrame('echo', '01', id, data))
    })
  return {
    name: 'least KARP exchange (no library, no checks)',
    async sequential(n) {
      for (let i = 0; i < n; i++) {
        const data = await request(payload)
        if (data.length !== payload.length) throw new Error('unexpected reply')
      }
    },
    async close() {
      socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
