// korv: the `korv` CLI on both sides, over SSH with throwaway keys. A temp dir gets a host key, a
// client key, authorized_keys and (once the port is known) known_hosts; `serve` runs on a free
// port; `request` runs GET /hello, STORE /items and GET /echo; SIGTERM then stops the server.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const manifest = import.meta.resolve('@proto/korv/package.json')
const cli = fileURLToPath(new URL('dist/cli.js', manifest))
// ssh2 comes with @proto/korv, so the keys are made by the library that reads them.
const { utils } = createRequire(fileURLToPath(manifest))('ssh2')

/** A key pair ssh2 can read back: its generator drops a leading zero byte of about one Ed25519 key in 256. */
function keyPair() {
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519')
    if (!(utils.parseKey(pair.public) instanceof Error) && !(utils.parseKey(pair.private) instanceof Error)) return pair
  }
}

/** Runs `korv ...args` to the end and returns its stdout; fails unless it exits 0. */
async function korv(...args) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const out = []
  const err = []
  child.stdout.on('data', (chunk) => out.push(chunk))
  child.stderr.on('data', (chunk) => err.push(chunk))
  const [code] = await once(child, 'exit')
  if (code !== 0) throw new Error(`korv ${args.join(' ')} exited with ${code}: ${Buffer.concat(err)}`)
  return Buffer.concat(out).toString()
}

export async function run() {
  const dir = await mkdtemp(join(tmpdir(), 'korv-demo-'))
  const file = (name) => join(dir, name)
  const hostKey = keyPair()
  const clientKey = keyPair()
  await writeFile(file('host_key'), hostKey.private, { mode: 0o600 })
  await writeFile(file('client_key'), clientKey.private, { mode: 0o600 })
  await writeFile(file('authorized_keys'), `${clientKey.public}\n`)

  const server = spawn(
    process.execPath,
    [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--host-key', file('host_key'), '--authorized-keys', file('authorized_keys')],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const exited = once(server, 'exit')
  let failure
  try {
    const [line] = await Promise.race([
      once(createInterface({ input: server.stdout }), 'line'),
      exited.then(([code]) => Promise.reject(new Error(`korv serve exited with ${code} before listening`))),
    ])
    console.log(`korv serve: ${line}`)
    const address = line.slice('listening '.length)
    const port = address.slice(address.lastIndexOf(':') + 1)
    await writeFile(file('known_hosts'), `[127.0.0.1]:${port} ${hostKey.public}\n`)
    for (const args of [['GET', '/hello'], ['STORE', '/items', '{"name":"demo","n":1}'], ['GET', '/echo', '{"hello":"korv"}']]) {
      const output = await korv('request', address, ...args, '--key', file('client_key'), '--known-hosts', file('known_hosts'))
      console.log(`korv request ${address} ${args.map((a) => (a.startsWith('{') ? `'${a}'` : a)).join(' ')}`)
      console.log(`  < ${output.trimEnd()}`)
    }
  } catch (err) {
    failure = err
  }
  server.kill('SIGTERM')
  const [code, signal] = await exited
  console.log(`korv serve stopped by SIGTERM: ${signal ?? `exit ${code}`}`)
  await rm(dir, { recursive: true, force: true })
  if (failure !== undefined) throw failure
  if (code !== 0) throw new Error(`korv serve ended with ${signal ?? `exit ${code}`}`)
}
