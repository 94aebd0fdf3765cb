// Installs each package that has examples as a user would, once for the whole run: pnpm packs the
// workspace, and for each package a fresh project outside it (`npm init -y`, so CommonJS unless a
// file says otherwise) gets the package's tarball and framing's from plain npm, and a copy of the
// package's examples/ folder.
import { cpSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { describeExit, FRAMING, freshProject, outputOf, run } from '../../scripts/installed-package.mjs'
import { pack, publishedPackages, requireBuilt } from '../../scripts/published-packages.mjs'
import { examplePackages } from './packages.ts'

/** Where each package was installed, or why it could not be, by short name. */
export type Installed = Record<string, { dir: string } | { error: string }>

declare module 'vitest' {
  export interface ProvidedContext {
    installed: Installed
  }
}

const INSTALL_TIMEOUT_MS = 300_000

async function install(tarballs: string[], examples: string, prefix: string): Promise<{ dir: string } | { error: string }> {
  const dir = freshProject(prefix)
  // Only a project that installed is handed on (and removed at teardown); a failed one goes now.
  const failed = (error: string): { error: string } => {
    rmSync(dir, { recursive: true, force: true })
    return { error }
  }
  // A user's project starts from `npm init -y`, not from the ESM manifest the check scripts write.
  unlinkSync(join(dir, 'package.json'))
  const init = await run('npm', ['init', '-y'], dir)
  if (init.code !== 0) return failed(`npm init -y: ${describeExit(init)}\n${outputOf(init)}`)
  const added = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], dir, INSTALL_TIMEOUT_MS)
  if (added.code !== 0) return failed(`npm install: ${describeExit(added)}\n${outputOf(added)}`)
  cpSync(examples, join(dir, 'examples'), { recursive: true })
  return { dir }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const packages = examplePackages()
  const published = publishedPackages()
  const framing = published.find((pkg) => pkg.manifest.name === FRAMING)
  if (framing === undefined) throw new Error(`${FRAMING} is not in packages/`)
  const wanted = [framing, ...published.filter((pkg) => pkg !== framing && packages.some((p) => p.short === pkg.short))]
  requireBuilt(wanted)
  const tarballs = mkdtempSync(join(tmpdir(), 'proto-examples-tarballs-'))
  let entries: ReturnType<typeof pack>
  try {
    entries = pack(wanted, tarballs)
  } catch (err) {
    rmSync(tarballs, { recursive: true, force: true })
    throw err
  }
  const framingTarball = entries.get(FRAMING)?.filename as string
  const installed: Installed = Object.fromEntries(
    await Promise.all(
      packages.map(async (pkg) => {
        const own = entries.get(pkg.name)?.filename as string | undefined
        if (own === undefined) return [pkg.short, { error: `pnpm pack made no tarball of ${pkg.name}` }] as const
        const files = pkg.name === FRAMING ? [own] : [framingTarball, own]
        return [pkg.short, await install(files, join(pkg.dir, 'examples'), `proto-examples-${pkg.short}-`)] as const
      }),
    ),
  )
  project.provide('installed', installed)
  return () => {
    rmSync(tarballs, { recursive: true, force: true })
    for (const place of Object.values(installed)) if ('dir' in place) rmSync(place.dir, { recursive: true, force: true })
  }
}
