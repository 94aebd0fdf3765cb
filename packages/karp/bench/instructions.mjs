// A fixed workload for instruction counts, which a shared machine's load does not change: N
// sequential echo requests, then N pipelined with 64 in flight, after 500 of warm-up, server and
// client in this process on 127.0.0.1. Count it at N and at 0 and subtract, so that start-up
// drops out (or at two values of N, so that compiling drops out too), and divide the difference
// by the 2N requests it adds: the cost of a request, both ends:
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null node bench/instructions.mjs [N]
import { Buffer } from 'node:buffer'
import process from 'node:process'
import { connect, createServer } from '../dist/index.js'

const N = Math.max(0, Number(process.argv[2] ?? 3000))
const PAYLOAD = Buffer.alloc(63, 0x78)

const server = createServer({ handlers: { echo: (request) => request.data } })
const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ host: '127.0.0.1', port })
for (let i = 0; i < 500 + N; i++) await client.request('echo', PAYLOAD)
if (N > 0) {
  await new Promise((resolve, reject) => {
    let sent = 0
    let done = 0
    const next = () => {
      sent++
      client.request('echo', PAYLOAD).then(() => {
        if (++done === N) resolve()
        else if (sent < N) next()
      }, reject)
    }
    for (let i = 0; i < Math.min(64, N); i++) next()
  })
}
await client.close()
await server.close()
