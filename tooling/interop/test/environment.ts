// Where the Python originals and a Python that can run them are: found once per run by the
// global setup, handed to every test file, and, when one is missing, the one line that says so.
import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { delimiter, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inject } from 'vitest'

/** The protocols whose originals the suite drives. */
export type Protocol = 'karp' | 'tej' | 'oneline' | 'krpc' | 'korv'

/** What every driver needs: a Python that runs all five originals, and their folder. */
export interface InteropEnvironment {
  readonly python: string
  readonly originals: string
}

/** The environment, or the reason it cannot be had (one line). */
export type FoundEnvironment = InteropEnvironment | { readonly missing: string }

declare module 'vitest' {
  export interface ProvidedContext {
    interop: FoundEnvironment
  }
}

const repositoryRoot = fileURLToPath(new URL('../../..', import.meta.url))

/** A file each original must have, so a wrong folder is named before any driver starts. */
const ENTRY_POINTS: Readonly<Record<Protocol, string>> = {
  karp: 'karp/karp/server.py',
  tej: 'tej/tej_protoc/protocol.py',
  oneline: 'oneline/socket_oneline/lib/oneline_server.py',
  krpc: 'krpc/krpc/krpc.py',
  korv: 'korv/korv/server.py',
}

// korv needs asyncssh; krpc needs cgi, which Python 3.13 removed.
const PROBE = 'import asyncssh, cgi'

function runsOriginals(python: string): boolean {
  const probe = spawnSync(python, ['-B', '-W', 'ignore', '-c', PROBE], { stdio: 'ignore', timeout: 30_000 })
  return probe.status === 0
}

function pythonsOnPath(path: string): string[] {
  const found: string[] = []
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, 'python3')
    try {
      accessSync(candidate, constants.X_OK)
      found.push(candidate)
    } catch {
      // not here
    }
  }
  return found
}

/**
 * The originals come from `PROTO_ORIGINALS`, else `../shared/originals` beside the checkout.
 * Python is `PROTO_PYTHON`, else the first `python3` on PATH that imports both asyncssh and cgi:
 * Debian's python3-asyncssh installs into /usr/bin/python3, which need not come first.
 */
export function findEnvironment(env: NodeJS.ProcessEnv = process.env): FoundEnvironment {
  const originals = resolve(env['PROTO_ORIGINALS'] ?? join(repositoryRoot, '..', 'shared', 'originals'))
  const absent = Object.values(ENTRY_POINTS).find((file) => !existsSync(join(originals, file)))
  if (absent !== undefined) {
    return {
      missing: `interop: the Python originals are not in ${originals} (no ${absent}): put the shared originals beside the checkout, or set PROTO_ORIGINALS to their folder`,
    }
  }
  const chosen = env['PROTO_PYTHON']
  if (chosen !== undefined && chosen !== '') {
    if (runsOriginals(chosen)) return { python: chosen, originals }
    return { missing: `interop: PROTO_PYTHON=${chosen} cannot import asyncssh and cgi: point it at a Python 3.9 to 3.12 with asyncssh (apt-get install -y python3 python3-asyncssh)` }
  }
  const candidates = pythonsOnPath(env['PATH'] ?? '')
  const python = candidates.find(runsOriginals)
  if (python !== undefined) return { python, originals }
  const tried = candidates.length === 0 ? 'there is none' : `tried ${candidates.join(', ')}`
  return {
    missing: `interop: no python3 on PATH imports both asyncssh and cgi (${tried}): apt-get install -y python3 python3-asyncssh (Python 3.9 to 3.12), or set PROTO_PYTHON`,
  }
}

/**
 * The environment the global setup found. When something is missing this throws the one line
 * that says what and how to get it, so every file fails with it rather than skipping.
 */
export function interopEnvironment(): InteropEnvironment {
  const found = inject('interop')
  if ('missing' in found) {
    const error = new Error(found.missing)
    // The line is the whole report: a stack would only bury it.
    error.stack = found.missing
    throw error
  }
  return found
}
