// Parsing a binary protocol with ByteReader: reads pull bytes from a socket only when they are
// needed, and a large field is streamed piece by piece, never held whole. The client sends one
// message: a 1-byte type, a 2-byte name length and the name, then an 8-byte body length and a
// 5 MiB body.
//
// Prints:
//   type 7, name "report.bin"
//   body: 5242880 bytes in <n> pieces, never held whole
//   at end: true
import { once } from 'node:events'
import net from 'node:net'
import { ByteReader } from '@proto/framing'

const BODY_BYTES = 5 * 1024 * 1024

const server = net.createServer(async (socket) => {
  const reader = new ByteReader(socket, { maxReadBytes: 64 * 1024 })
  const type = await reader.u8()
  const name = (await reader.bytes(await reader.u16())).toString()
  console.log(`type ${type}, name ${JSON.stringify(name)}`)
  const body = reader.stream(await reader.safeU64())
  let bytes = 0
  let pieces = 0
  for await (const piece of body) {
    bytes += piece.length
    pieces++
  }
  console.log(`body: ${bytes} bytes in ${pieces} pieces, never held whole`)
  console.log(`at end: ${await reader.atEnd()}`)
  socket.end()
  server.close()
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')

const name = Buffer.from('report.bin')
const header = Buffer.alloc(1 + 2 + name.length + 8)
header.writeUInt8(7, 0)
header.writeUInt16BE(name.length, 1)
name.copy(header, 3)
header.writeBigUInt64BE(BigInt(BODY_BYTES), 3 + name.length)
const client = net.connect({ host: '127.0.0.1', port: server.address().port })
client.write(header)
client.end(Buffer.alloc(BODY_BYTES, 0x61))
await once(server, 'close')
