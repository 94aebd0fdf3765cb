// krpc: `krpc serve` on a free port; `krpc call` for each demo method, a file upload among them
// (fail is a remote error: exit code 1); SIGTERM then stops the server.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli, shown, withServer } from '../cli.mjs'

export async function run() {
  const dir = await mkdtemp(join(tmpdir(), 'krpc-demo-'))
  try {
    const file = join(dir, 'hello.txt')
    await writeFile(file, 'hello from the krpc demo\n')
    await withServer('krpc', [], async (address) => {
      for (const args of [['echo', '"hello"'], ['add', '40', '2'], ['upload', '--file', file], ['fail']]) {
        const { code, out, err } = await runCli('krpc', ['call', address, ...args])
        console.log(`krpc call ${shown(args.map((arg) => (arg === file ? 'hello.txt' : arg)))} → ${out || err} (exit ${code})`)
        const expected = args[0] === 'fail' ? 1 : 0
        if (code !== expected) throw new Error(`krpc call ${args[0]} exited with ${code}, expected ${expected}`)
      }
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
