// The packages whose examples the suite runs: every published package with an examples/ folder,
// and the examples in it, read from the workspace so a new file is picked up with no change here.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { publishedPackages } from '../../scripts/published-packages.mjs'

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
    .filter((pkg) => pkg.examples.length > 0)
}
