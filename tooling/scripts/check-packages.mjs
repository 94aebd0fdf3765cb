// Lints what each published package would actually upload: publint (strict) and
// arethetypeswrong (esm-only profile) both read the tarball that `pnpm pack` makes, the same
// one `changeset publish` sends, with workspace: and catalog: ranges already rewritten.
//
//   node tooling/scripts/check-packages.mjs [--only karp,tej]
//
// Run it after a build: the tarballs take dist/ as it is.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pack, publishedPackages, requireBuilt, root, selectPackages } from './published-packages.mjs'

const bin = (name) => join(root, 'node_modules/.bin', name)

function parseOnly(argv) {
  const at = argv.indexOf('--only')
  if (at === -1) return undefined
  const value = argv[at + 1]
  if (value === undefined || value.startsWith('--')) {
    console.error('usage: --only NAME[,NAME...]')
    process.exit(2)
  }
  return value.split(',').map((name) => name.trim().replace(/^@proto\//, '')).filter(Boolean)
}

function capture(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    child.on('error', (err) => resolve({ ok: false, output: `${output}${err.message}\n` }))
    child.on('close', (code) => resolve({ ok: code === 0, output }))
  })
}

async function mapWithLimit(items, limit, fn) {
  const results = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

const started = performance.now()
const packages = selectPackages(publishedPackages(), parseOnly(process.argv.slice(2)))
requireBuilt(packages)

const workDir = mkdtempSync(join(tmpdir(), 'proto-check-packages-'))
let failed = 0
try {
  const tarballs = pack(packages, workDir)
  const results = await mapWithLimit(packages, availableParallelism(), async (pkg) => {
    const tarball = tarballs.get(pkg.manifest.name)?.filename
    if (tarball === undefined) return { pkg, checks: [{ tool: 'pack', ok: false, output: 'pnpm pack made no tarball\n' }] }
    const [publint, attw] = await Promise.all([
      capture(bin('publint'), ['run', tarball, '--strict']),
      capture(bin('attw'), [tarball, '--profile', 'esm-only']),
    ])
    return { pkg, checks: [{ tool: 'publint', ...publint }, { tool: 'attw', ...attw }] }
  })
  for (const { pkg, checks } of results) {
    const bad = checks.filter((check) => !check.ok)
    if (bad.length === 0) {
      console.log(`PASS ${pkg.manifest.name} (${checks.map((check) => check.tool).join(', ')})`)
      continue
    }
    failed++
    console.log(`FAIL ${pkg.manifest.name} (${bad.map((check) => check.tool).join(', ')})`)
    for (const check of bad) console.log(`--- ${check.tool} ${pkg.manifest.name}\n${check.output.trimEnd()}\n`)
  }
} finally {
  rmSync(workDir, { recursive: true, force: true })
}
const seconds = ((performance.now() - started) / 1000).toFixed(1)
// Not phrased as "N passed, N failed": that line is reserved for the test suite's totals.
console.log(`check-packages: ${failed === 0 ? 'OK' : 'FAILED'}, ${packages.length - failed}/${packages.length} packages clean (${seconds} s)`)
process.exit(failed === 0 ? 0 : 1)
