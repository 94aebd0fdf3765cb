// Runs the whole test suite (tooling/scripts/test.mjs, after a build) under the machine's Node
// and under other Node majors, so the `engines` range is tested rather than assumed.
//
//   node tooling/scripts/test-node-versions.mjs [MAJOR...] [--no-current] [-- VITEST_ARGS...]
//
// MAJOR defaults to 22 and 24; arguments after `--` go to vitest (`-- --project karp`). Each binary comes from the npm registry package
// node-<platform>-<arch> (what the `node` package's install script would fetch, without relying
// on install scripts being allowed) and is kept in node_modules/.cache/node-versions/<major>,
// so only the first run downloads anything. --no-current skips the machine's own Node, which
// `pnpm test` already covers.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cacheDir = join(root, 'node_modules/.cache/node-versions')
const binaryPackage = `node-${process.platform}-${process.arch}`
const TOTALS = /^\d+ passed, \d+ failed/

const separator = process.argv.indexOf('--', 2)
const args = separator === -1 ? process.argv.slice(2) : process.argv.slice(2, separator)
const passedArgs = separator === -1 ? [] : process.argv.slice(separator + 1)
// The interop suite (tooling/interop) checks the Python originals, the scale suite (tooling/scale)
// a balancer and the examples suite (tooling/examples) installs from the tarballs, which our Node
// version does not change: `pnpm test` runs them once, so they are left out here
// (PROTO_TEST_OTHER_NODE, read by vitest.config.ts) unless a --project is given. vitest's --project filters add up, so two negated ones would leave out neither.
const leaveOut = !passedArgs.some((arg) => arg.startsWith('--project'))
const includeCurrent = !args.includes('--no-current')
const majors = args.filter((arg) => arg !== '--no-current')
for (const major of majors) {
  if (!/^\d+$/.test(major)) {
    console.error(`usage: test-node-versions.mjs [MAJOR...] [--no-current] [-- VITEST_ARGS...] (got ${major})`)
    process.exit(2)
  }
}
if (majors.length === 0) majors.push('22', '24')

function nodeBinary(major) {
  const dir = join(cacheDir, major)
  const binary = join(dir, 'node_modules', binaryPackage, 'bin', 'node')
  if (existsSync(binary)) return binary
  // Installed next to the cache entry and renamed into place, so an interrupted download is
  // never mistaken for a cached binary.
  const staging = `${dir}.partial`
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging, { recursive: true })
  console.log(`installing ${binaryPackage}@${major} into ${dir}`)
  const install = spawnSync(
    'npm',
    ['install', '--prefix', staging, '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', `${binaryPackage}@${major}`],
    { stdio: 'inherit' },
  )
  if (install.status !== 0) throw new Error(`npm install ${binaryPackage}@${major} failed`)
  rmSync(dir, { recursive: true, force: true })
  renameSync(staging, dir)
  if (!existsSync(binary)) throw new Error(`${binaryPackage}@${major} has no bin/node`)
  return binary
}

// Output is passed through as it comes and the totals line is picked out of it, so a long run
// shows progress and still ends with one summary per version.
function runSuite(node) {
  const started = performance.now()
  const child = spawn(node, [join(root, 'tooling/scripts/test.mjs'), ...passedArgs], {
    cwd: root,
    // Tests that spawn `node` by name must get the same version as the runner.
    env: {
      ...process.env,
      PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ''}`,
      ...(leaveOut ? { PROTO_TEST_OTHER_NODE: '1' } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let totals = ''
  let pending = ''
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk)
    const lines = (pending + chunk.toString('utf8')).split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) if (TOTALS.test(line)) totals = line.trim()
  })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (TOTALS.test(pending)) totals = pending.trim()
      resolve({ ok: code === 0, totals: totals || `no totals line (exit ${code ?? signal})`, seconds: (performance.now() - started) / 1000 })
    })
  })
}

const targets = []
if (includeCurrent) targets.push(process.execPath)
for (const major of majors) targets.push(nodeBinary(major))

const results = []
for (const node of targets) {
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()
  console.log(`\n== node ${version} (${node}) ==`)
  results.push({ version, ...(await runSuite(node)) })
}

console.log(`\n${'node'.padEnd(12)}  ${'result'.padEnd(28)}  time`)
for (const { version, ok, totals, seconds } of results) {
  console.log(`${version.padEnd(12)}  ${`${ok ? 'PASS' : 'FAIL'} ${totals}`.padEnd(28)}  ${seconds.toFixed(1)} s`)
}
process.exit(results.every((result) => result.ok) ? 0 : 1)
