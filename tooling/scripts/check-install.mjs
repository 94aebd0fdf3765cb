// Installs each published package the way a user would and uses it: pnpm packs the workspace
// (rewriting workspace: and catalog: ranges), plain npm installs each tarball with framing's
// into a fresh directory outside the workspace, and a server and client talk on 127.0.0.1,
// once through the package's public entry point and once through its installed bin. This is
// what the workspace cannot show: a missing file in `files` (README, LICENSE and, but for framing,
// PROTOCOL.md are required), a dependency that only resolved
// through the monorepo, a bin without its shebang.
//
//   node tooling/scripts/check-install.mjs [--only karp,tej] [--keep]
//
// Run it after a build. Third-party dependencies come from the npm cache or the registry.
// --keep leaves the install directories in place for a closer look.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import {
  checkContents,
  checkImports,
  checkTree,
  cleanEnv,
  describeExit,
  FRAMING,
  freshProject,
  outputOf,
  run,
  STEP_TIMEOUT_MS,
} from './installed-package.mjs'
import { pack, publishedPackages, requireBuilt, selectPackages } from './published-packages.mjs'

// Each script runs in the install directory with plain `node`, importing the package by name.
// Promise-returning helpers are spelled out: Promise.withResolvers is not in Node 20.
const API_SCRIPTS = {
  karp: `
import assert from 'node:assert/strict'
import { connect, createServer } from '@proto/karp'

const server = createServer({ handlers: { echo: (request) => request.data } })
const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 })
const connection = await connect({ host, port })
const reply = await connection.request('echo', 'hello karp')
assert.equal(reply.text(), 'hello karp')
await connection.close()
await server.close()
console.log(\`echo replied "\${reply.text()}"\`)
`,
  tej: `
import assert from 'node:assert/strict'
import { connect, createServer } from '@proto/tej'

const server = createServer({
  handler: async (frame, { connection }) => {
    const { status, files, message } = await frame.buffer()
    await connection.send({ status, files, message })
  },
})
const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 })
let deliver
const received = new Promise((resolve) => (deliver = resolve))
const client = await connect({ host, port, handler: async (frame) => deliver(await frame.buffer()) })
await client.send({ status: 3, message: 'hello tej', files: [{ name: 'a.txt', data: 'file body' }] })
const frame = await received
assert.equal(frame.status, 3)
assert.equal(Buffer.from(frame.message).toString(), 'hello tej')
assert.deepEqual(frame.files.map((file) => [file.name, Buffer.from(file.data).toString()]), [['a.txt', 'file body']])
await client.close()
await server.close()
console.log('frame echoed: status 3, message and one file')
`,
  oneline: `
import assert from 'node:assert/strict'
import { connect, createServer } from '@proto/oneline'

const server = createServer({ handler: (command) => \`got \${command}\` })
const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ host, port })
await client.ping()
const lines = await client.request('hello oneline')
assert.deepEqual(lines, ['got hello oneline'])
await client.close()
await server.close()
console.log(\`request answered \${JSON.stringify(lines)}\`)
`,
  krpc: `
import assert from 'node:assert/strict'
import { connect, createServer } from '@proto/krpc'

const server = createServer({
  handlers: {
    echo: (value) => value,
    size: async (file) => {
      let size = 0
      for await (const chunk of file) size += chunk.length
      return size
    },
  },
})
const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({ host, port })
assert.equal(await client.call('echo', ['hello krpc']), 'hello krpc')
assert.equal(await client.call('size', [new Uint8Array(1000)]), 1000)
await client.close()
await server.close()
console.log('echo and a 1000-byte file upload answered')
`,
  korv: `
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { connect, createServer } from '@proto/korv'

const server = createServer({
  hostKeys: [{ path: 'host_key' }],
  authorizedKeys: { path: 'authorized_keys' },
  handlers: { GET: { '/echo': (request) => ({ code: 200, body: request.body }) } },
})
const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 })
const client = await connect({
  host,
  port,
  privateKey: { path: 'client_key' },
  knownHosts: \`[\${host}]:\${port} \${readFileSync('host_key.pub', 'utf8')}\`,
})
const reply = await client.get('/echo', { hello: 'korv' })
assert.deepEqual(reply, { code: 200, body: { hello: 'korv' } })
await client.close()
await server.close()
console.log(\`GET /echo answered \${JSON.stringify(reply)}\`)
`,
}

// The client half of each bin check, against `<bin> serve --host 127.0.0.1 --port 0` (plus
// serveArgs) and the commands api.md gives.
const CLI_CHECKS = {
  karp: {
    client: (port) => ['request', `127.0.0.1:${port}`, 'echo', 'hello karp'],
    expect: (stdout) => stdout.trim() === 'hello karp',
  },
  tej: {
    client: (port, dir) => {
      writeFileSync(join(dir, 'a.txt'), 'file body')
      return ['send', `127.0.0.1:${port}`, '--json', '--message', 'hello tej', '--status', '3', '--file', join(dir, 'a.txt')]
    },
    expect: (stdout) =>
      isDeepStrictEqual(JSON.parse(stdout), {
        status: 3,
        message: 'hello tej',
        files: [{ name: 'a.txt', size: 9, sha256: createHash('sha256').update('file body').digest('hex') }],
      }),
  },
  oneline: {
    client: (port) => ['send', `127.0.0.1:${port}`, 'echo hello oneline'],
    expect: (stdout) => stdout.trim() === 'hello oneline',
  },
  krpc: {
    client: (port) => ['call', `127.0.0.1:${port}`, 'echo', '"hello krpc"'],
    expect: (stdout) => JSON.parse(stdout) === 'hello krpc',
  },
  korv: {
    serveArgs: ['--host-key', 'host_key', '--authorized-keys', 'authorized_keys'],
    client: (port, dir) => {
      writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${readFileSync(join(dir, 'host_key.pub'), 'utf8')}`)
      return ['request', `127.0.0.1:${port}`, 'GET', '/hello', '--key', 'client_key', '--known-hosts', 'known_hosts']
    },
    expect: (stdout) => isDeepStrictEqual(JSON.parse(stdout), { code: 200, body: { msg: 'Hello World!' } }),
  },
}

// korv needs a host key and an authorized client key. ssh2 comes with the install, so the keys
// are made with the same library the package reads them with.
function prepare(short, dir) {
  if (short !== 'korv') return
  const { utils } = createRequire(join(dir, 'package.json'))('ssh2')
  const hostKey = utils.generateKeyPairSync('ed25519')
  const clientKey = utils.generateKeyPairSync('ed25519')
  writeFileSync(join(dir, 'host_key'), hostKey.private, { mode: 0o600 })
  writeFileSync(join(dir, 'host_key.pub'), `${hostKey.public}\n`)
  writeFileSync(join(dir, 'client_key'), clientKey.private, { mode: 0o600 })
  writeFileSync(join(dir, 'authorized_keys'), `${clientKey.public}\n`)
}

function parseArgs(argv) {
  const options = { only: undefined, keep: false }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--keep') options.keep = true
    else if (argv[i] === '--only' && argv[i + 1] !== undefined) {
      options.only = argv[++i].split(',').map((name) => name.trim().replace(/^@proto\//, '')).filter(Boolean)
    } else {
      console.error('usage: check-install.mjs [--only NAME[,NAME...]] [--keep]')
      process.exit(2)
    }
  }
  return options
}

// Starts `<bin> serve`, resolves with the port from its first line, and hands back a stop()
// that sends SIGTERM and reports how the server ended.
function serve(bin, args, cwd) {
  const child = spawn(bin, args, { cwd, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const ended = new Promise((resolve) => {
    child.on('error', (err) => resolve({ code: null, signal: null, error: err }))
    child.on('close', (code, signal) => resolve({ code, signal }))
  })
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const stop = async () => {
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const result = await ended
    clearTimeout(timer)
    return { ...result, stdout, stderr }
  }
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS)
    child.stdout.on('data', (chunk) => {
      stdout += chunk
      const newline = stdout.indexOf('\n')
      if (newline === -1) return
      clearTimeout(timer)
      const first = stdout.slice(0, newline)
      const match = /^listening (\S+):(\d+)$/.exec(first)
      if (match) resolve(Number(match[2]))
      else reject(new Error(`first line is ${JSON.stringify(first)}, not "listening <host>:<port>"`))
    })
    void ended.then((result) => {
      clearTimeout(timer)
      reject(new Error(`serve ended before listening (${result.error?.message ?? describeExit(result)})`))
    })
  })
  return { listening, stop }
}

async function checkPackage(pkg, entry, framingEntry, keep) {
  const steps = []
  const step = (name, ok, detail) => steps.push({ name, ok, detail })
  const contents = checkContents(entry.files.map((file) => file.path), pkg.manifest)
  step('tarball contents', contents.ok, contents.detail)

  const dir = freshProject(`proto-install-${pkg.short}-`)
  try {
    const tarballs = pkg.manifest.name === FRAMING ? [entry.filename] : [framingEntry.filename, entry.filename]
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], dir, 300_000)
    step('npm install', install.code === 0, install.code === 0 ? tarballs.map((file) => file.split('/').pop()).join(' + ') : `${describeExit(install)}\n${outputOf(install)}`)
    if (install.code !== 0) return { steps, dir }

    const ls = await run('npm', ['ls', '--all', '--omit=dev', '--json'], dir)
    if (ls.code !== 0) step('npm ls', false, `${describeExit(ls)}\n${outputOf(ls)}`)
    else {
      const tree = checkTree(JSON.parse(ls.stdout), pkg.short, 'file:')
      step('installed tree', tree.ok, tree.detail)
    }

    const imports = await checkImports(dir, pkg.manifest)
    step('imports', imports.ok, imports.detail)

    if (pkg.manifest.name === FRAMING) return { steps, dir }
    prepare(pkg.short, dir)

    writeFileSync(join(dir, 'round-trip.mjs'), API_SCRIPTS[pkg.short].trimStart())
    const api = await run(process.execPath, ['round-trip.mjs'], dir)
    step('API round trip', api.code === 0, api.code === 0 ? api.stdout.trim() : `${describeExit(api)}\n${outputOf(api)}`)

    step(...(await cliRoundTrip(pkg.short, dir)))
    return { steps, dir }
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}

async function cliRoundTrip(short, dir) {
  const name = 'CLI round trip'
  const bin = join(dir, 'node_modules/.bin', short)
  if (!existsSync(bin)) return [name, false, `node_modules/.bin/${short} was not installed`]
  const check = CLI_CHECKS[short]
  const server = serve(bin, ['serve', '--host', '127.0.0.1', '--port', '0', ...(check.serveArgs ?? [])], dir)
  let port
  try {
    port = await server.listening
  } catch (err) {
    const ended = await server.stop()
    return [name, false, `${err.message}\n${outputOf(ended)}`]
  }
  const args = check.client(port, dir)
  const client = await run(bin, args, dir)
  const ended = await server.stop()
  const problems = []
  let matches = false
  try {
    matches = check.expect(client.stdout)
  } catch {
    // Unparseable output is a mismatch like any other; the output is shown below.
  }
  if (client.code !== 0) problems.push(`client: ${describeExit(client)}`)
  else if (!matches) problems.push('client: unexpected output')
  if (ended.code !== 0) problems.push(`serve after SIGTERM: ${describeExit(ended)}, expected exit 0`)
  if (problems.length === 0) return [name, true, `${short} ${args.join(' ')}: ${client.stdout.trim()}`]
  return [name, false, [...problems, `client ${outputOf(client)}`, `serve ${outputOf(ended)}`].join('\n')]
}

const options = parseArgs(process.argv.slice(2))
const started = performance.now()
const all = publishedPackages()
const framing = all.find((pkg) => pkg.manifest.name === FRAMING)
if (framing === undefined) throw new Error(`${FRAMING} is not in packages/`)
const selected = selectPackages(all, options.only)
requireBuilt([...new Set([framing, ...selected])])

const packDir = mkdtempSync(join(tmpdir(), 'proto-install-tarballs-'))
const verdicts = []
try {
  const entries = pack([...new Set([framing, ...selected])], packDir)
  for (const pkg of selected) {
    const pkgStarted = performance.now()
    const entry = entries.get(pkg.manifest.name)
    const { steps, dir } =
      entry === undefined
        ? { steps: [{ name: 'pnpm pack', ok: false, detail: 'no tarball was made' }], dir: undefined }
        : await checkPackage(pkg, entry, entries.get(FRAMING), options.keep)
    const ok = steps.every((s) => s.ok)
    verdicts.push({ pkg, ok })
    console.log(`\n${pkg.manifest.name}`)
    for (const s of steps) {
      const [first, ...rest] = s.detail.split('\n')
      console.log(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.name}: ${first}`)
      for (const line of rest) console.log(`         ${line}`)
    }
    if (options.keep && dir !== undefined) console.log(`  kept ${dir}`)
    console.log(`${ok ? 'PASS' : 'FAIL'} ${pkg.short} (${((performance.now() - pkgStarted) / 1000).toFixed(1)} s)`)
  }
} finally {
  rmSync(packDir, { recursive: true, force: true })
}

const failed = verdicts.filter((v) => !v.ok).map((v) => v.pkg.short)
const seconds = ((performance.now() - started) / 1000).toFixed(1)
console.log(`\ncheck-install: ${failed.length === 0 ? 'OK' : `FAILED (${failed.join(', ')})`}, ${verdicts.length} package(s) in ${seconds} s`)
process.exit(failed.length === 0 ? 0 : 1)
