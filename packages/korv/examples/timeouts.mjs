// Deadlines and cancellation: a call's `timeout`, an AbortSignal, the client's default timeout,
// `connectTimeout` against a peer that never speaks SSH, and a server's `limits.handshakeTimeout`
// and `limits.idleTimeout` for peers that go silent. A deadline rejects with KorvTimeoutError
// (code ERR_KORV_TIMEOUT, name TimeoutError); an abort rejects with the signal's reason. Needs
// `ssh-keygen` (OpenSSH) on PATH.
//
// Prints:
//   GET /slow timed out after 100 ms (ERR_KORV_TIMEOUT, TimeoutError)
//   aborted: Error: the user went away
//   GET /slow timed out after 150 ms (ERR_KORV_TIMEOUT, TimeoutError)
//   connect to 127.0.0.1:<port> timed out after 200 ms (ERR_KORV_TIMEOUT)
//   strict server: client 127.0.0.1:<port> dropped: no authentication within 1000 ms (ERR_KORV_HANDSHAKE_TIMEOUT)
//   strict server: client 127.0.0.1:<port> dropped: no request for 300 ms (ERR_KORV_IDLE_TIMEOUT)
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from '@proto/korv'

// Throwaway keys and the files that name them (see examples/quickstart.mjs).
const dir = mkdtempSync(join(tmpdir(), 'korv-'))
const file = (name) => join(dir, name)
for (const name of ['host_key', 'client_key']) {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file(name)])
}
writeFileSync(file('authorized_keys'), readFileSync(file('client_key.pub')))
const keys = { hostKeys: [{ path: file('host_key') }], authorizedKeys: { path: file('authorized_keys') } }
// Both servers below use the same host key, so one known_hosts line per port pins it.
const hostKey = readFileSync(file('host_key.pub'), 'utf8')
const clientOptions = (server) => {
  const { host, port } = server.address()
  writeFileSync(file(`known_hosts_${port}`), `[${host}]:${port} ${hostKey}`)
  return { host, port, privateKey: { path: file('client_key') }, knownHosts: { path: file(`known_hosts_${port}`) } }
}

// A handler slower than every deadline below: it answers once the example lets it. korv has no
// cancel message, so a handler runs on after its caller gave up; ctx.signal aborts only when the
// channel closes.
let finishWork
const work = new Promise((resolve) => (finishWork = resolve))
const server = createServer({ ...keys, handlers: { GET: { '/slow': () => work.then(() => ({ code: 200 })) } } })
await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect(clientOptions(server))

const show = (err) => console.log(`${err.message} (${err.code}, ${err.name})`)

// 1. One call's deadline.
await client.get('/slow', null, { timeout: 100 }).catch(show)

// 2. Cancelled by the caller: any AbortSignal, here from an AbortController.
const controller = new AbortController()
const pending = client.get('/slow', null, { signal: controller.signal })
controller.abort(new Error('the user went away'))
await pending.catch((reason) => console.log(`aborted: ${reason}`))

// 3. A default deadline for every call of a client: `timeout` in connect()'s options.
const impatient = await connect({ ...clientOptions(server), timeout: 150 })
await impatient.get('/slow').catch(show)

// 4. connectTimeout bounds all of connect(): TCP, the SSH handshake, authentication and the
// channel. This peer accepts and stays silent, so it never gets as far as showing a host key.
const silent = net.createServer(() => {})
await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve))
const target = { host: '127.0.0.1', port: silent.address().port }
await connect({ ...target, privateKey: { path: file('client_key') }, knownHosts: '', connectTimeout: 200 }).catch((err) =>
  console.log(`${err.message} (${err.code})`),
)
silent.close()

finishWork()
await Promise.all([client.close(), impatient.close()])
await server.close()

// 5. A server's own limits on its peers: a peer that does not finish logging in within
// handshakeTimeout, and a client that sends nothing for idleTimeout, are dropped.
const strict = createServer({ ...keys, limits: { handshakeTimeout: 1_000, idleTimeout: 300 } })
strict.on('clientError', (err, peer) => {
  const { address, port } = peer.remote ?? peer // a connection, or a PeerInfo for a refused peer
  console.log(`strict server: client ${address}:${port} dropped: ${err.message} (${err.code})`)
})
const { port } = await strict.listen({ host: '127.0.0.1', port: 0 })
const mute = net.connect(port, '127.0.0.1') // TCP only, never a word of SSH
mute.resume() // read (and ignore) the server's greeting, so its end of the connection is seen
await once(mute, 'close')
const idle = await connect(clientOptions(strict))
await idle.closed
await strict.close()
rmSync(dir, { recursive: true })
