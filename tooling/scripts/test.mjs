// Runs every package's tests in one vitest process and closes with one plain totals line, so a
// run that executed nothing is visible at a glance.
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const resultsFile = join(root, '.vitest-results.json')
// vitest's exports map hides its bin file, so it is found next to its package.json.
const vitestManifest = createRequire(join(root, 'package.json')).resolve('vitest/package.json')
const vitest = join(dirname(vitestManifest), 'vitest.mjs')

rmSync(resultsFile, { force: true })
const run = spawnSync(
  process.execPath,
  [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${resultsFile}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
)

let passed = 0
let failed = 0
try {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8'))
  passed = results.numPassedTests
  failed = results.numFailedTests
  // A file that fails to load has no failed test of its own, yet the run must not look green.
  if (!results.success && failed === 0) failed = Math.max(results.numFailedTestSuites, 1)
} catch {
  failed = 1
}
if (passed === 0 && failed === 0) failed = 1
console.log(`${passed} passed, ${failed} failed`)
process.exit(run.status === 0 && failed === 0 ? 0 : 1)
