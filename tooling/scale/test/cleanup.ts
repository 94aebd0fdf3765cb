// Cleanups registered by what a test starts (the balancer, backends and clients), run after that
// test or, for what a `beforeAll` started, after its file, whether the test passed or not.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

type Cleanup = () => Promise<void> | void

const scopes: Cleanup[][] = [[]]

/** Runs `cleanup` when the current test ends, or when the file ends if no test is running. */
export function defer(cleanup: Cleanup): void {
  const scope = scopes.at(-1)
  if (scope === undefined) throw new Error('no cleanup scope')
  scope.push(cleanup)
}

/** Opens the scope of one test. */
export function openScope(): void {
  scopes.push([])
}

/** Runs the cleanups of the innermost scope, newest first; every one runs even if some throw. */
export async function closeScope(): Promise<void> {
  const scope = scopes.length > 1 ? scopes.pop() : scopes[0]
  if (scope === undefined) return
  const failures: unknown[] = []
  for (const cleanup of scope.splice(0).reverse()) {
    try {
      await cleanup()
    } catch (err) {
      failures.push(err)
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, 'cleanup failed')
}

/** A fresh directory under the system's temporary directory, removed with the current scope. */
export async function temporaryDirectory(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  defer(() => rm(dir, { recursive: true, force: true }))
  return dir
}
