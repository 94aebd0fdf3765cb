// Key setup, authorized_keys options and host key pinning. `ssh-keygen` makes a host key and two
// client keys; authorized_keys lets alice in from 127.0.0.1 only and bob from 10.0.0.0/8 only (its
// `from=` option, as sshd reads it), and holds a line korv cannot honour, which it skips. Clients
// pin the host key by a known_hosts line for the server's host and port, or by its fingerprint as
// `ssh-keygen -lf` prints it. Needs `ssh-keygen` (OpenSSH) on PATH.
//
// Prints:
//   skipped authorized_keys line 3 (ERR_KORV_BAD_KEY_LINE)
//   alice (known_hosts): logged in with SHA256:<fingerprint>, as ssh-keygen -lf says: true
//   alice (fingerprint): {"user":"alice"}
//   bob: authentication refused: <reason> (ERR_KORV_AUTH_FAILED)
//   known_hosts for port 8022: host key SHA256:<fingerprint> of 127.0.0.1 is not trusted (ERR_KORV_HOST_KEY)
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from '@proto/korv'

const dir = mkdtempSync(join(tmpdir(), 'korv-keys-'))
const file = (name) => join(dir, name)
for (const name of ['host_key', 'alice', 'bob']) {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file(name)])
}
const publicKey = (name) => readFileSync(file(`${name}.pub`), 'utf8').trim()
// `ssh-keygen -lf` prints "256 SHA256:... comment (ED25519)": the second word is the fingerprint.
const fingerprint = (name) => execFileSync('ssh-keygen', ['-lf', file(`${name}.pub`)], { encoding: 'utf8' }).split(' ')[1]

writeFileSync(
  file('authorized_keys'),
  [
    `from="127.0.0.1,::1" ${publicKey('alice')}`,
    `from="10.0.0.0/8" ${publicKey('bob')}`,
    // A certificate authority line: korv has no certificates, so the line is skipped (fail closed).
    `cert-authority ${publicKey('bob')}`,
  ].join('\n') + '\n',
)

// Who a client is comes from the key it logged in with (ctx.key); korv does not check usernames.
const users = new Map([
  [fingerprint('alice'), 'alice'],
  [fingerprint('bob'), 'bob'],
])
const server = createServer({
  hostKeys: [{ path: file('host_key') }],
  authorizedKeys: { path: file('authorized_keys') },
  handlers: {
    GET: { '/whoami': (request, ctx) => ({ code: 200, body: { user: users.get(ctx.key.fingerprint), key: ctx.key.fingerprint } }) },
  },
})
// Lines that cannot be used are skipped, each reported once when listen() reads the file.
server.on('authorizedKeysError', (err) => console.log(`skipped authorized_keys line ${err.line} (${err.code})`))
const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 })

// Pinning by known_hosts: the line names the host and the port the server actually got.
writeFileSync(file('known_hosts'), `[${host}]:${port} ${publicKey('host_key')}\n`)
const alice = await connect({ host, port, privateKey: { path: file('alice') }, knownHosts: { path: file('known_hosts') } })
const { body } = await alice.get('/whoami')
console.log(`alice (known_hosts): logged in with ${body.key}, as ssh-keygen -lf says: ${body.key === fingerprint('alice')}`)
await alice.close()

// Pinning by fingerprint: no file needed.
const pinned = await connect({ host, port, privateKey: { path: file('alice') }, hostKeyFingerprint: fingerprint('host_key') })
console.log(`alice (fingerprint): ${JSON.stringify({ user: (await pinned.get('/whoami')).body.user })}`)
await pinned.close()

const attempt = async (label, options) => {
  try {
    const client = await connect({ host, port, ...options })
    await client.close()
    console.log(`${label}: let in`)
  } catch (err) {
    console.log(`${label}: ${err.message} (${err.code})`)
  }
}
// bob's key is listed, but only for clients from 10.0.0.0/8: from 127.0.0.1 it is refused.
await attempt('bob', { privateKey: { path: file('bob') }, hostKeyFingerprint: fingerprint('host_key') })
// A known_hosts line written before the server had its port names another port: nothing is trusted.
writeFileSync(file('known_hosts'), `[${host}]:8022 ${publicKey('host_key')}\n`)
await attempt('known_hosts for port 8022', { privateKey: { path: file('alice') }, knownHosts: { path: file('known_hosts') } })

await server.close()
rmSync(dir, { recursive: true })
