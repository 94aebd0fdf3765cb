import * as fsPromises from 'node:fs/promises'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import type { KrpcFile } from '../src/types.ts'
import { readAll, spoolDir, startServer } from './helpers.ts'

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof fsPromises>()
  return { ...real, rm: vi.fn(real.rm) }
})

afterEach(() => {
  vi.mocked(fsPromises.rm).mockReset()
})

describe('spooled parts', () => {
  it('a temp file that cannot be removed does not keep the request, or the server, from ending', async () => {
    const dir = await spoolDir()
    const real = await vi.importActual<typeof fsPromises>('node:fs/promises')
    vi.mocked(fsPromises.rm).mockRejectedValueOnce(Object.assign(new Error('operation not permitted'), { code: 'EPERM' }))
    const server = await startServer({
      tmpDir: dir.path,
      handlers: {
        // The first part arrives while the second is missing, so it is spooled.
        both: async (a: KrpcFile, b: KrpcFile) => `${(await readAll(b)).toString()} ${(await readAll(a)).toString()}`,
      },
    })
    const client = await connect({ port: server.port })
    expect(await client.call('both', [new TextEncoder().encode('first'), new TextEncoder().encode('second')])).toBe('second first')
    await client.close()
    await server.close()
    expect(vi.mocked(fsPromises.rm)).toHaveBeenCalledTimes(1)
    await real.rm(dir.path, { recursive: true, force: true })
  })
})
