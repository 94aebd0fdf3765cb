// Streaming a large file with progress at both ends. The client streams a file from disk and the
// server streams it to disk, hashing it on the way, so neither end holds more than a few chunks
// however large the file is. Without an argument it sends a 64 MiB file of random bytes made in a
// temporary directory; pass a path to send your own.
//
//   node examples/large-file.mjs                  # 64 MiB of random bytes
//   node examples/large-file.mjs ~/video.mkv      # any file
//
// The server's progress lines come in between the client's, as the bytes arrive.
//
// Prints:
//   client: sending large.bin, 64 MiB
//   client: sent 25%
//   client: sent 50%
//   client: sent 75%
//   client: sent 100%
//   server: received 100%
//   client: the server stored large.bin, 67108864 bytes, sha256 <hex> (the same)
//   peak RSS <n> MiB
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { connect, createServer } from '@proto/tej'

const MiB = 1024 * 1024
const temporary = mkdtempSync(join(tmpdir(), 'tej-large-'))
let [path] = process.argv.slice(2)
if (path === undefined) {
  path = join(temporary, 'large.bin')
  for (let i = 0; i < 64; i++) writeFileSync(path, randomBytes(MiB), { flag: i === 0 ? 'w' : 'a' })
}

// Prints a line each time the count passes another quarter of the total.
const progress = (label, total) => {
  let shown = 0
  return (count) => {
    const quarter = total === 0 ? 4 : Math.floor((count / total) * 4)
    for (; shown < quarter; shown++) console.log(`${label} ${(shown + 1) * 25}%`)
  }
}

const server = createServer({
  handler: async (frame, ctx) => {
    const stored = []
    for await (const file of frame.files()) {
      // A file name is data from the peer, never a path: this server keeps only plain names.
      if (!/^[\w.-]{1,200}$/.test(file.name) || file.name.startsWith('.')) {
        console.log(`server: skipped a file named ${JSON.stringify(file.name)}`) // unread: skipped
        continue
      }
      const hash = createHash('sha256')
      const report = progress('server: received', file.size)
      let received = 0
      await pipeline(
        file,
        async function* (chunks) {
          for await (const chunk of chunks) {
            hash.update(chunk)
            report((received += chunk.length))
            yield chunk
          }
        },
        createWriteStream(join(temporary, `received-${file.name}`)),
      )
      stored.push({ name: file.name, size: received, sha256: hash.digest('hex') })
    }
    await ctx.connection.send({ message: JSON.stringify(stored) })
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ host: '127.0.0.1', port })

const name = basename(path)
const { size } = statSync(path)
console.log(`client: sending ${name}, ${(size / MiB).toFixed(0)} MiB`)
const hash = createHash('sha256')
const report = progress('client: sent', size)
let sent = 0
// A source counts the bytes as send() takes them, which it does only as fast as the socket drains.
async function* counted(chunks) {
  for await (const chunk of chunks) {
    hash.update(chunk)
    report((sent += chunk.length))
    yield chunk
  }
}
// { name, path } would stream the file too; a stream of a declared size lets this example count.
await client.send({ files: [{ name, stream: counted(createReadStream(path)), size }] })

for await (const frame of client) {
  const digest = hash.digest('hex')
  for (const file of JSON.parse(Buffer.from(await frame.message()).toString())) {
    console.log(`client: the server stored ${file.name}, ${file.size} bytes, sha256 ${file.sha256} (${file.sha256 === digest ? 'the same' : 'different'})`)
  }
  break
}
await client.close()
await server.close()
rmSync(temporary, { recursive: true })
console.log(`peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`)
