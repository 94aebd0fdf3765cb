// A unix socket path in a fresh temporary directory.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** What `tempSocketPath()` returns. */
export interface TempSocketPath {
  /** A path nothing exists at yet, short enough for a unix socket. */
  readonly path: string
  /** Removes the directory and whatever is in it; safe to destructure. */
  readonly remove: () => Promise<void>
}

/** A path for a unix socket in a new directory under the system's temporary directory. */
export async function tempSocketPath(): Promise<TempSocketPath> {
  const dir = await mkdtemp(join(tmpdir(), 'proto-'))
  return {
    path: join(dir, 's.sock'),
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}
