// The packages whose examples the suite runs: every published package with an examples/ folder,
// and the examples in it, read from the workspace so a new file is picked up with no change here.
// Packages still listed in EXAMPLES_PENDING (tooling/scripts/readme-examples.mjs) are left out
// until their examples follow the opening-comment convention.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { publishedPackages } from '../../scripts/published-packages.mjs'
import { EXAMPLES_PENDING } from '../../scripts/readme-examples.mjs'

export interface ExamplePackage {
  short: string
  name: string
  dir: string
  examples: string[]
}

/** Every published package that has `examples/*.mjs`, with those file names, sorted. */
export function examplePackages(): ExamplePackage[] {
  return publishedPackages()
    .map((pkg) => {
      const folder = join(pkg.dir, 'examples')
      const examples = existsSync(folder) ? readdirSync(folder).filter((file) => file.endsWith('.mjs')).sort() : []
      return { short: pkg.short, name: pkg.manifest.name as string, dir: pkg.dir, examples }
    })
    .filter((pkg) => pkg.examples.length > 0 && !EXAMPLES_PENDING.has(pkg.short))
}
