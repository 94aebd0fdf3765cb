// Streaming a large file both ways, with progress. The client sends a file from disk through a
// Transform that counts bytes; the server hashes the upload as it arrives, and sends it back as a
// binary reply the client streams to disk. Neither side holds the file in memory: memory stays
// flat whatever the size. Without an argument it writes a 64 MiB file of random bytes to a
// temporary directory; pass a path to send your own (the server's `limits.fileSize` is raised to
// 1 GiB here; its default is 100 MiB).
//
//   node examples/large-file.mjs                  # a generated 64 MiB file
//   node examples/large-file.mjs big.iso          # your own file
//
// Prints:
//   sending <name>: <n> bytes
//   upload 25%
//   upload 50%
//   upload 75%
//   upload 100%
//   server: <n> bytes, sha256 <hex>
//   sha256 matches
//   downloaded <n> bytes, sha256 matches
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { asFile, connect, createServer, isBinaryResult } from '@proto/krpc'

const temporary = mkdtempSync(join(tmpdir(), 'krpc-large-file-'))
let path = process.argv[2]
if (path === undefined) {
  path = join(temporary, 'random.bin')
  const out = createWriteStream(path)
  for (let i = 0; i < 64; i++) if (!out.write(randomBytes(1_048_576))) await new Promise((resolve) => out.once('drain', resolve))
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())))
}
const size = statSync(path).size

const server = createServer({
  limits: { fileSize: 1_073_741_824 },
  handlers: {
    // Hashes the file while it streams in: the method runs as soon as the part's headers arrive.
    hash: async (file) => {
      const hash = createHash('sha256')
      let bytes = 0
      for await (const chunk of file) {
        bytes += chunk.length
        hash.update(chunk)
      }
      const sha256 = hash.digest('hex')
      console.log(`server: ${bytes} bytes, sha256 ${sha256}`)
      return { bytes, sha256 }
    },
    // Returning the upload's Readable streams it back as the binary reply.
    echo: (file) => file,
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ port })

// Counts and hashes the bytes as they leave, and reports each quarter once.
const local = createHash('sha256')
let sent = 0
let shown = 0
const counter = new Transform({
  transform(chunk, _encoding, done) {
    local.update(chunk)
    sent += chunk.length
    for (; shown < Math.floor((sent / size) * 4); shown++) console.log(`upload ${(shown + 1) * 25}%`)
    done(null, chunk)
  },
})

console.log(`sending ${basename(path)}: ${size} bytes`)
// With `size` the body has a Content-Length (a path alone is stat'ed); a source that delivers
// another number of bytes fails with ERR_KRPC_FILE_SIZE_MISMATCH.
const upload = asFile(createReadStream(path).pipe(counter), { filename: basename(path), size })
// `timeout` covers a call up to the reply's headers, the whole upload included here.
const result = await client.call('hash', [upload], { timeout: 300_000 })
console.log(result.sha256 === local.digest('hex') ? 'sha256 matches' : 'sha256 differs')

// Download: the reply is a BinaryResult, and stream() reads it without buffering it.
const reply = await client.call('echo', [asFile({ path })], { timeout: 300_000 })
if (isBinaryResult(reply)) {
  const copy = join(temporary, 'copy.bin')
  const back = createHash('sha256')
  await pipeline(reply.stream(), async function* (source) {
    for await (const chunk of source) {
      back.update(chunk)
      yield chunk
    }
  }, createWriteStream(copy))
  const same = back.digest('hex') === result.sha256
  console.log(`downloaded ${statSync(copy).size} bytes, sha256 ${same ? 'matches' : 'differs'}`)
}

await client.close()
await server.close()
rmSync(temporary, { recursive: true })
