// Every packages/*/examples/*.mjs, run with plain `node` in a project that installed the package
// from its tarball: it must exit 0 on its own within the bound and print what its opening comment
// says it prints. A package's examples run side by side: they listen on port 0, so none share a port.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'
import { describe, expect, inject, it } from 'vitest'
import { cleanEnv, describeExit, outputOf, run } from '../../scripts/installed-package.mjs'
import { missingLine, parseExampleHeader } from './example-header.ts'
import { examplePackages } from './packages.ts'

const EXAMPLE_TIMEOUT_MS = 60_000
const installed = inject('installed')

for (const pkg of examplePackages()) {
  describe.concurrent(pkg.name, () => {
    for (const name of pkg.examples) {
      it(`examples/${name}`, { timeout: EXAMPLE_TIMEOUT_MS + 10_000 }, async () => {
        const header = parseExampleHeader(readFileSync(join(pkg.dir, 'examples', name), 'utf8'), name)
        const place = installed[pkg.short]
        if (place === undefined || 'error' in place) throw new Error(`${pkg.name} was not installed: ${place?.error ?? 'no install'}`)
        const env = { ...cleanEnv, ...header.env }
        const result = await run(process.execPath, [join('examples', name), ...header.args], place.dir, EXAMPLE_TIMEOUT_MS, env)
        expect(describeExit(result), outputOf(result)).toBe('exit 0')
        const missing = missingLine(header.prints, result.stdout)
        expect(missing === undefined ? 'every promised line printed' : `stdout lacks a line matching ${String(missing)}`, outputOf(result)).toBe(
          'every promised line printed',
        )
      })
    }
  })
}
