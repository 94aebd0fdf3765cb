// The servers the benchmark measures, in their own process so clients and servers each get a
// core. Prints one JSON line with the ports, then serves until stdin closes, answering each line
// it reads with its CPU time.
import http from 'node:http'
import busboy from 'busboy'
import jayson from 'jayson'
import { createServer } from '../dist/index.js'

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
}

async function drain(file) {
  let size = 0
  for await (const chunk of file) size += chunk.length
  return size
}

const krpc = createServer({
  handlers: { echo: (x) => x, upload: (file) => drain(file) },
  limits: { fileSize: 1024 ** 3 },
})
const krpcPort = (await krpc.listen({ host: '127.0.0.1', port: 0 })).port

const jaysonServer = new jayson.Server({ echo: (args, callback) => callback(null, args[0]) }).http()
const jaysonPort = await listen(jaysonServer)

// The hand-written baseline: JSON in, JSON out, nothing else.
const raw = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    const call = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    const body = JSON.stringify({ result: call.params[0] })
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
    res.end(body)
  })
})
const rawPort = await listen(raw)

// busboy straight on node:http, draining the one file part: the floor for an upload.
const busboyServer = http.createServer((req, res) => {
  const bb = busboy({ headers: req.headers, limits: { fileSize: 1024 ** 3 } })
  let size = 0
  bb.on('file', (_name, file) => {
    file.on('data', (chunk) => { size += chunk.length })
  })
  bb.on('field', () => {})
  bb.on('close', () => {
    const body = JSON.stringify({ result: size })
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
    res.end(body)
  })
  req.pipe(bb)
})
const busboyPort = await listen(busboyServer)

console.log(JSON.stringify({ krpc: krpcPort, jayson: jaysonPort, raw: rawPort, busboy: busboyPort }))
// Each line on stdin asks for this process's CPU time so far, so the benchmark can charge the
// servers' share of a run to the contender it measured.
process.stdin.setEncoding('utf8')
process.stdin.on('data', (text) => {
  for (let i = 0; i < text.split('\n').length - 1; i++) {
    const { user, system } = process.cpuUsage()
    console.log(JSON.stringify({ cpu: user + system }))
  }
})
process.stdin.on('end', () => process.exit(0))
