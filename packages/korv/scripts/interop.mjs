// Interop with the original Python korv (0.2.1, on asyncssh), both ways, for every pair of
// Ed25519, RSA and ECDSA host and client keys. Not part of `pnpm test`: it needs Python 3 with
// the original installed (`python3 -m pip install korv==0.2.1`), which CI does not have.
//
//   node scripts/interop.mjs [--python python3]
//
// Our server, Python client: GET /hello and GET /echo through KorvClient.get().
// Python server, our client: GET /hello, GET /echo and STORE /items (whose spurious request_id 0
// reply our client must ignore). Exits 0 when every pair passes, 1 when one fails, 2 when the
// original cannot be run.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import ssh2 from 'ssh2'
import { connect, createServer } from '../dist/index.js'

const { values } = parseArgs({ options: { python: { type: 'string', default: 'python3' } } })
const python = values.python

const probe = spawnSync(python, ['-c', 'import korv, asyncssh; print(asyncssh.__version__)'], { encoding: 'utf8' })
if (probe.status !== 0) {
  console.error(`cannot import korv and asyncssh with ${python}: install them with \`${python} -m pip install korv==0.2.1\``)
  console.error(probe.stderr || probe.error?.message)
  process.exit(2)
}
console.log(`original korv with asyncssh ${probe.stdout.trim()}`)

const PY_CLIENT = `
import json, os, sys
from korv import KorvClient
port, key, known = int(sys.argv[1]), sys.argv[2], sys.argv[3]
k = KorvClient(host='127.0.0.1', port=port, client_keys=[key], known_hosts=known)
out = [k.get('/hello'), k.get('/echo', {'a': [1, 'é']})]
print(json.dumps(out), flush=True)
os._exit(0)
`
const PY_SERVER = `
import sys
from korv import KorvServer
port, key, authorized = int(sys.argv[1]), sys.argv[2], sys.argv[3]
items = {}
def store(request):
    items[str(request['body'].get('name', ''))] = request['body']
    return 200, {'stored': request['body']}
k = KorvServer(port=port, host_keys=[key], authorized_client_keys=authorized)
k.add_callback('GET', '/hello', lambda request: (200, {'msg': 'Hello World!'}))
k.add_callback('GET', '/echo', lambda request: (200, request['body']))
k.add_callback('STORE', '/items', store)
k.start()
`

function keyPair(kind) {
  for (;;) {
    const pair =
      kind === 'rsa'
        ? ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 })
        : kind === 'ecdsa'
          ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 })
          : ssh2.utils.generateKeyPairSync('ed25519')
    // ssh2's generator drops a leading zero byte of about one Ed25519 key in 256.
    if (!(ssh2.utils.parseKey(pair.public) instanceof Error) && !(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair
  }
}

async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

function run(args, { timeout = 30_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

const dir = await mkdtemp(join(tmpdir(), 'korv-interop-'))
const file = (name) => join(dir, name)
await writeFile(file('client.py'), PY_CLIENT)
await writeFile(file('server.py'), PY_SERVER)
const kinds = ['ed25519', 'rsa', 'ecdsa']
const keys = Object.fromEntries(kinds.map((kind) => [kind, { host: keyPair(kind), client: keyPair(kind) }]))
let failures = 0

async function ourServerPythonClient(hostKind, clientKind) {
  const { host } = keys[hostKind]
  const { client } = keys[clientKind]
  await writeFile(file('client_key'), client.private, { mode: 0o600 })
  const server = createServer({
    hostKeys: [host.private],
    authorizedKeys: `${client.public}\n`,
    routes: { GET: { '/hello': () => ({ code: 200, body: { msg: 'Hello World!' } }), '/echo': (ctx) => ({ code: 200, body: ctx.body }) } },
  })
  server.on('clientError', (err) => console.error(`  server clientError ${err.code}: ${err.message}`))
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  await writeFile(file('known_hosts'), `[127.0.0.1]:${port} ${host.public}\n`)
  try {
    const result = await run([file('client.py'), String(port), file('client_key'), file('known_hosts')])
    if (result.code !== 0) throw new Error(`python client exited ${result.code}: ${result.stderr}`)
    const [hello, echo] = JSON.parse(result.stdout)
    if (hello.code !== 200 || hello.body?.msg !== 'Hello World!') throw new Error(`GET /hello: ${JSON.stringify(hello)}`)
    if (JSON.stringify(echo.body) !== JSON.stringify({ a: [1, 'é'] })) throw new Error(`GET /echo: ${JSON.stringify(echo)}`)
  } finally {
    await server.close({ signal: AbortSignal.timeout(5000) })
  }
}

async function pythonServerOurClient(hostKind, clientKind) {
  const { host } = keys[hostKind]
  const { client } = keys[clientKind]
  await writeFile(file('host_key'), host.private, { mode: 0o600 })
  await writeFile(file('authorized_keys'), `${client.public}\n`)
  const port = await freePort()
  const child = spawn(python, [file('server.py'), String(port), file('host_key'), file('authorized_keys')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  try {
    let korv
    // The original prints nothing when it listens: try until it answers.
    for (let attempt = 0; korv === undefined; attempt++) {
      try {
        korv = await connect({ host: '127.0.0.1', port, privateKey: client.private, knownHosts: `[127.0.0.1]:${port} ${host.public}\n` })
      } catch (err) {
        if (err.code !== 'ERR_KORV_CONNECT' || attempt > 50) throw err
        await delay(200)
      }
    }
    const hello = await korv.get('/hello')
    if (hello.body?.msg !== 'Hello World!') throw new Error(`GET /hello: ${JSON.stringify(hello)}`)
    const echo = await korv.get('/echo', { a: [1, 'é'] })
    if (JSON.stringify(echo.body) !== JSON.stringify({ a: [1, 'é'] })) throw new Error(`GET /echo: ${JSON.stringify(echo)}`)
    const stored = await korv.store('/items', { name: 'x', n: 1 })
    if (JSON.stringify(stored.body) !== JSON.stringify({ stored: { name: 'x', n: 1 } })) throw new Error(`STORE: ${JSON.stringify(stored)}`)
    await korv.close()
  } catch (err) {
    throw new Error(`${err.message}${stderr ? `\n  python: ${stderr.trim()}` : ''}`, { cause: err })
  } finally {
    child.kill('SIGTERM')
  }
}

for (const hostKind of kinds) {
  for (const clientKind of kinds) {
    for (const [name, test] of [['our server, python client', ourServerPythonClient], ['python server, our client', pythonServerOurClient]]) {
      try {
        await test(hostKind, clientKind)
        console.log(`ok   ${hostKind} host, ${clientKind} client: ${name}`)
      } catch (err) {
        failures++
        console.log(`FAIL ${hostKind} host, ${clientKind} client: ${name}: ${err.message}`)
      }
    }
  }
}
await rm(dir, { recursive: true, force: true })
console.log(failures === 0 ? 'interop: all pairs passed' : `interop: ${failures} failed`)
process.exit(failures === 0 ? 0 : 1)
