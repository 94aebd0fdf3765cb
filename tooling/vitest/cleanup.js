// Cleanups registered by what a test starts (processes, servers, clients, directories), run after
// that test or, for what a `beforeAll` started, after its file, whether the test passed or not.
// A suite opts in with a setup file that calls openScope/closeScope around each test.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const scopes = [[]]

export function defer(cleanup) {
  const scope = scopes.at(-1)
  if (scope === undefined) throw new Error('no cleanup scope')
  scope.push(cleanup)
}

export function openScope() {
  scopes.push([])
}

export async function closeScope() {
  const scope = scopes.length > 1 ? scopes.pop() : scopes[0]
  if (scope === undefined) return
  const failures = []
  for (const cleanup of scope.splice(0).reverse()) {
    try {
      await cleanup()
    } catch (err) {
      failures.push(err)
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, 'cleanup failed')
}

export async function temporaryDirectory(prefix) {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  defer(() => rm(dir, { recursive: true, force: true }))
  return dir
}
