// The quick start: a server and a client in one process. A TEJ frame carries a status (0 to 127),
// any number of named files and a message, and either end sends frames whenever it wants. This
// server answers each frame with one listing the files it received; the client sends a file from
// memory and reads the answer, its file streamed chunk by chunk.
//
// Prints:
//   server: status 5, message hello, file notes.txt 20 bytes
//   client: status 6, message received
//   client: file receipt.txt: notes.txt 20 bytes
import { connect, createServer } from '@proto/tej'

const server = createServer({
  handler: async (frame, ctx) => {
    // Files arrive in wire order, as streams: read (or skip) each before the next, then the message.
    const receipt = []
    for await (const file of frame.files()) {
      const data = await file.bytes() // held in memory, up to limits.maxBufferedBytes (64 MiB)
      receipt.push(`${file.name} ${data.length} bytes`)
    }
    const message = Buffer.from(await frame.message()).toString()
    console.log(`server: status ${frame.status}, message ${message}, file ${receipt.join(', ')}`)
    await ctx.connection.send({ status: frame.status + 1, message: 'received', files: [{ name: 'receipt.txt', data: receipt.join('\n') }] })
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })

const client = await connect({ host: '127.0.0.1', port })
// A file is bytes or a string (UTF-8), a `path` streamed from disk, or a `stream` of a given `size`.
await client.send({ status: 5, message: 'hello', files: [{ name: 'notes.txt', data: 'twenty bytes of text' }] })

// Without a handler, a connection is an async iterable of the frames it receives.
for await (const frame of client) {
  const files = []
  for await (const file of frame.files()) {
    const chunks = []
    for await (const chunk of file) chunks.push(chunk) // a large file would go to disk instead
    files.push({ name: file.name, text: Buffer.concat(chunks).toString() })
  }
  console.log(`client: status ${frame.status}, message ${Buffer.from(await frame.message()).toString()}`)
  for (const { name, text } of files) console.log(`client: file ${name}: ${text}`)
  break // one answer is all this client waits for
}
await client.close() // lets queued sends finish, then ends the connection
await server.close()
