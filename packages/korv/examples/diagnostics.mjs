// Observing a server through node:diagnostics_channel: a log line per connection and per request,
// with each reply's code and duration, and a count of handler failures by code. Nothing is
// published while nobody subscribes, so this costs nothing until it is wanted. Both ends of a
// connection in one process publish, so this example keeps `side === 'server'`. The requests a
// server answers itself publish too: 404 for no handler as request:end, 400 for a bad message and
// 500 while closing as request:error. Needs `ssh-keygen` (OpenSSH) on PATH.
//
// Prints:
//   listening on 127.0.0.1:<port>
//   open 127.0.0.1:<port>
//   GET /hello from 127.0.0.1:<port>: 200 in <ms> ms
//   GET /fail from 127.0.0.1:<port>: failed: out of paper in <ms> ms
//   close 127.0.0.1:<port>
//   handler failures: {"EPAPER":1}
import { execFileSync } from 'node:child_process'
import dc from 'node:diagnostics_channel'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from '@proto/korv'

const started = new WeakMap() // request info -> start time; the same object from start to end or error
const failures = {}
const peer = (remote) => `${remote.address}:${remote.port}`
const elapsed = (request) => (performance.now() - started.get(request)).toFixed(2)
const label = (request, remote) => `${request.verb} ${request.resource} from ${peer(remote)}`

dc.subscribe('proto:korv:server:listening', ({ address }) => console.log(`listening on ${address.host}:${address.port}`))
dc.subscribe('proto:korv:connection:open', ({ side, remote }) => {
  if (side === 'server') console.log(`open ${peer(remote)}`)
})
dc.subscribe('proto:korv:connection:close', ({ side, remote, error }) => {
  if (side === 'server') console.log(`close ${peer(remote)}${error ? `: ${error.code}` : ''}`)
})
dc.subscribe('proto:korv:request:start', ({ side, request }) => {
  if (side === 'server') started.set(request, performance.now())
})
dc.subscribe('proto:korv:request:end', ({ side, remote, request }) => {
  if (side === 'server') console.log(`${label(request, remote)}: ${request.code} in ${elapsed(request)} ms`)
})
dc.subscribe('proto:korv:request:error', ({ side, remote, request, error }) => {
  if (side !== 'server') return
  failures[error.code] = (failures[error.code] ?? 0) + 1
  console.log(`${label(request, remote)}: failed: ${error.message} in ${elapsed(request)} ms`)
})

// Throwaway keys and the files that name them (see examples/quickstart.mjs).
const dir = mkdtempSync(join(tmpdir(), 'korv-'))
const file = (name) => join(dir, name)
for (const name of ['host_key', 'client_key']) {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file(name)])
}
writeFileSync(file('authorized_keys'), readFileSync(file('client_key.pub')))

const server = createServer({
  hostKeys: [{ path: file('host_key') }],
  authorizedKeys: { path: file('authorized_keys') },
  handlers: {
    GET: {
      '/hello': () => ({ code: 200, body: { msg: 'Hello World!' } }),
      '/fail': () => {
        throw Object.assign(new Error('out of paper'), { code: 'EPAPER' })
      },
    },
  },
})
// The handler's error in full goes here; the client gets `500 internal error`.
server.on('handlerError', () => {})
const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 })
writeFileSync(file('known_hosts'), `[${host}]:${port} ${readFileSync(file('host_key.pub'), 'utf8')}`)

const client = await connect({ host, port, privateKey: { path: file('client_key') }, knownHosts: { path: file('known_hosts') } })
await client.get('/hello')
await client.get('/fail').catch(() => {}) // the handler throws: the server answers 500
await client.close()
await server.close()
rmSync(dir, { recursive: true })
console.log(`handler failures: ${JSON.stringify(failures)}`)
