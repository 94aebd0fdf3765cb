// Where HAProxy is: found once per run by the global setup (installed with apt-get as root when
// missing), handed to every test file, and, when it cannot be had, the one line that says so.
import { spawnSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { inject } from 'vitest'

/** The HAProxy binary, or the reason there is none (one line). */
export type FoundHaproxy = { readonly haproxy: string } | { readonly missing: string }

declare module 'vitest' {
  export interface ProvidedContext {
    scale: FoundHaproxy
  }
}

/** What apt-get may take, an index update included, before the run gives up on it. */
const INSTALL_WAIT = 300_000

// Debian installs it in /usr/sbin, which a user's PATH may lack.
function locate(path: string): string | undefined {
  for (const dir of [...path.split(delimiter), '/usr/sbin', '/usr/local/sbin']) {
    if (dir === '') continue
    const candidate = join(dir, 'haproxy')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

function aptGet(args: readonly string[]): boolean {
  const run = spawnSync('apt-get', args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: INSTALL_WAIT,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
  return run.status === 0
}

/**
 * `PROTO_HAPROXY` when set, else `haproxy` on PATH or in /usr/sbin. When there is none and the
 * process is root, `apt-get install -y haproxy` (after `apt-get update` if the package lists do
 * not have it yet); otherwise the line that says what is missing.
 */
export function findHaproxy(env: NodeJS.ProcessEnv = process.env): FoundHaproxy {
  const chosen = env['PROTO_HAPROXY']
  if (chosen !== undefined && chosen !== '') {
    const probe = spawnSync(chosen, ['-v'], { stdio: 'ignore', timeout: 30_000 })
    if (probe.status === 0) return { haproxy: chosen }
    return { missing: `scale: PROTO_HAPROXY=${chosen} does not run (haproxy -v failed): point it at an HAProxy 2.x binary` }
  }
  const found = locate(env['PATH'] ?? '')
  if (found !== undefined) return { haproxy: found }
  if (process.getuid?.() !== 0) {
    return { missing: 'scale: haproxy is not installed and this run is not root: apt-get install -y haproxy, or set PROTO_HAPROXY' }
  }
  if (!aptGet(['install', '-y', '-qq', 'haproxy'])) {
    aptGet(['update', '-qq'])
    aptGet(['install', '-y', '-qq', 'haproxy'])
  }
  const installed = locate(env['PATH'] ?? '')
  if (installed !== undefined) return { haproxy: installed }
  return { missing: 'scale: haproxy is not installed and apt-get install -y haproxy failed (see its output above)' }
}

/**
 * The HAProxy binary the global setup found. When there is none this throws the one line that
 * says what is missing and how to get it, so every file fails with it rather than skipping.
 */
export function haproxyBinary(): string {
  const found = inject('scale')
  if ('missing' in found) {
    const error = new Error(found.missing)
    // The line is the whole report: a stack would only bury it.
    error.stack = found.missing
    throw error
  }
  return found.haproxy
}
