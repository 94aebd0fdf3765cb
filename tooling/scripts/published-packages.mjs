// The packages the workspace publishes, and their tarballs as `pnpm pack` makes them: the
// check scripts share these so that they look at the same packages the same way.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('../..', import.meta.url))
const PNPM = 'pnpm@10.34.9'

/** Every package under packages/ of `base` (this workspace or a copy) that is not private: `{ short, dir, manifest }`. */
export function publishedPackages(base = root) {
  return readdirSync(join(base, 'packages'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(base, 'packages', entry.name, 'package.json')))
    .map((entry) => {
      const dir = join(base, 'packages', entry.name)
      return { short: entry.name, dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }
    })
    .filter((pkg) => pkg.manifest.private !== true)
}

/** The packages named by `--only` (all when it is undefined); exits 2 on a name that is not one. */
export function selectPackages(all, only) {
  if (only === undefined) return all
  const unknown = only.filter((name) => !all.some((pkg) => pkg.short === name))
  if (unknown.length > 0) {
    console.error(`--only: no published package named ${unknown.join(', ')} (have ${all.map((p) => p.short).join(', ')})`)
    process.exit(2)
  }
  return all.filter((pkg) => only.includes(pkg.short))
}

/** Exits 1 unless every package has a dist/: the tarballs take it as it is. */
export function requireBuilt(packages) {
  const unbuilt = packages.filter((pkg) => !existsSync(join(pkg.dir, 'dist')))
  if (unbuilt.length > 0) {
    console.error(`no dist/ in ${unbuilt.map((pkg) => pkg.short).join(', ')}: build first (pnpm build)`)
    process.exit(1)
  }
}

/**
 * Packs `packages` into `destination`; resolves to pnpm's entry (with `filename`) by package name.
 * One pnpm process packs them all: starting pnpm through npx costs more than packing.
 */
export function pack(packages, destination) {
  const filters = packages.flatMap((pkg) => ['--filter', pkg.manifest.name])
  const run = spawnSync('npx', ['-y', PNPM, ...filters, 'pack', '--pack-destination', destination, '--json'], {
    cwd: root,
    encoding: 'utf8',
  })
  if (run.status !== 0) throw new Error(`pnpm pack failed (exit ${run.status}):\n${run.stdout}${run.stderr}`)
  const parsed = JSON.parse(run.stdout)
  return new Map((Array.isArray(parsed) ? parsed : [parsed]).map((entry) => [entry.name, entry]))
}
