// The quick start: keys made with `ssh-keygen`, a server on a free port, a known_hosts line pinning
// its host key for the port it got, and a client that checks it, logs in with its own key and sends
// requests. A reply of 400 or more rejects with a RemoteError. Needs `ssh-keygen` (OpenSSH) on PATH.
//
// Prints:
//   listening on 127.0.0.1:<port>
//   { code: 200, body: { msg: 'Hello World!' } }
//   stored: 201
//   failed: not found (ERR_KORV_REMOTE, status 404)
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from '@proto/korv'

// 1. Keys: one for the server (its host key), one for the client. A real server keeps its host
// key; here both live in a temporary directory.
const dir = mkdtempSync(join(tmpdir(), 'korv-'))
const file = (name) => join(dir, name)
for (const name of ['host_key', 'client_key']) {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file(name)])
}
// The server lets in the keys listed in authorized_keys, as sshd does.
writeFileSync(file('authorized_keys'), readFileSync(file('client_key.pub')))

// 2. The server: handlers by verb and resource.
const items = new Map()
const server = createServer({
  hostKeys: [{ path: file('host_key') }],
  authorizedKeys: { path: file('authorized_keys') },
  handlers: {
    GET: {
      '/hello': () => ({ code: 200, body: { msg: 'Hello World!' } }),
      '/item': (request) => {
        if (!items.has(request.body?.name)) return { code: 404, body: { message: 'not found' } }
        return { code: 200, body: items.get(request.body.name) }
      },
    },
    STORE: {
      '/item': (request) => {
        items.set(request.body.name, request.body)
        return { code: 201 }
      },
    },
  },
})
const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 })
console.log(`listening on ${host}:${port}`)

// 3. Pinning: the client trusts only the host keys its known_hosts names for this host and port.
// The server got its port just now, so the line is written for that port.
writeFileSync(file('known_hosts'), `[${host}]:${port} ${readFileSync(file('host_key.pub'), 'utf8')}`)

// 4. The client.
const client = await connect({ host, port, privateKey: { path: file('client_key') }, knownHosts: { path: file('known_hosts') } })
console.log(await client.get('/hello'))
console.log(`stored: ${(await client.store('/item', { name: 'pen', colour: 'blue' })).code}`)
try {
  await client.get('/item', { name: 'cup' })
} catch (err) {
  console.log(`failed: ${err.message} (${err.code}, status ${err.status})`)
}

await client.close()
await server.close()
rmSync(dir, { recursive: true })
