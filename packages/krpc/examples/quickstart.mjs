// The quick start: a server and a client in one process. Methods take the call's positional
// parameters; a file argument streams to the method as a Readable, and a method that returns bytes
// sends a binary reply. A method's failure reaches the caller as a RemoteError.
//
// Prints:
//   3
//   hello, krpc
//   {"name":"notes.txt","size":19}
//   binary reply: 4 bytes
//   failed: Method call raised an exception. (ERR_KRPC_REMOTE, -32000: Error: no such user)
import { asFile, connect, createServer, isBinaryResult } from '@proto/krpc'

const server = createServer({
  handlers: {
    add: (a, b) => a + b,
    greet: { hello: (name) => `hello, ${name}` }, // nested objects make dotted names: greet.hello
    // A file argument is a Readable (a KrpcFile, with `filename` and `mimeType`): read it as it streams.
    size: async (file) => {
      let size = 0
      for await (const chunk of file) size += chunk.length
      return { name: file.filename, size }
    },
    bytes: () => new Uint8Array([1, 2, 3, 4]),
    user: () => {
      // Only an error marked `expose: true` sends its message; any other sends `internal error`.
      throw Object.assign(new Error('no such user'), { expose: true })
    },
  },
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })

const client = await connect({ url: `http://127.0.0.1:${port}` }) // sends nothing until the first call
console.log(await client.call('add', [1, 2])) // 3
console.log(await client.methods.greet.hello('krpc')) // the same as client.call('greet.hello', ['krpc'])

// A file argument: a Blob, a Uint8Array, a Readable, or asFile(data | { path }, { filename, mimeType }).
const notes = asFile(new TextEncoder().encode('a file from memory\n'), { filename: 'notes.txt' })
console.log(JSON.stringify(await client.call('size', [notes])))

const reply = await client.call('bytes')
if (isBinaryResult(reply)) console.log(`binary reply: ${(await reply.bytes()).length} bytes`)

try {
  await client.call('user', ['nobody'])
} catch (err) {
  console.log(`failed: ${err.message} (${err.code}, ${err.rpcCode}: ${err.data})`)
}

await client.close()
await server.close()
