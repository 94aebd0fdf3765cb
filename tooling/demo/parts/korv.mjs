// korv: the `korv` CLI on both sides, over SSH with throwaway keys. A temp dir gets a host key, a
// client key, authorized_keys and (once the port is known) known_hosts; `serve` runs on a free
// port; `request` runs GET /hello, STORE /items and GET /echo; SIGTERM then stops the server.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCliOk, shown, withServer } from '../cli.mjs'

const manifest = import.meta.resolve('@proto/korv/package.json')
// ssh2 comes with @proto/korv, so the keys are made by the library that reads them.
const { utils } = createRequire(fileURLToPath(manifest))('ssh2')

/** A key pair ssh2 can read back: its generator drops a leading zero byte of about one Ed25519 key in 256. */
function keyPair() {
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519')
    if (!(utils.parseKey(pair.public) instanceof Error) && !(utils.parseKey(pair.private) instanceof Error)) return pair
  }
}

export async function run() {
  const dir = await mkdtemp(join(tmpdir(), 'korv-demo-'))
  const file = (name) => join(dir, name)
  try {
    const hostKey = keyPair()
    const clientKey = keyPair()
    await writeFile(file('host_key'), hostKey.private, { mode: 0o600 })
    await writeFile(file('client_key'), clientKey.private, { mode: 0o600 })
    await writeFile(file('authorized_keys'), `${clientKey.public}\n`)
    const serveArgs = ['--host-key', file('host_key'), '--authorized-keys', file('authorized_keys')]
    await withServer('korv', serveArgs, async (address) => {
      const port = address.slice(address.lastIndexOf(':') + 1)
      await writeFile(file('known_hosts'), `[127.0.0.1]:${port} ${hostKey.public}\n`)
      for (const args of [['GET', '/hello'], ['STORE', '/items', '{"name":"demo","n":1}'], ['GET', '/echo', '{"hello":"korv"}']]) {
        const output = await runCliOk('korv', ['request', address, ...args, '--key', file('client_key'), '--known-hosts', file('known_hosts')])
        console.log(`korv request ${address} ${shown(args)}`)
        console.log(`  < ${output}`)
      }
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
