// tej: `tej serve` echoes frames on a free port; `tej send` sends one frame with a message and a
// small file (streamed from disk, hashed while it streams back) and prints the echo: its status
// and message, then the file's size and SHA-256.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCliOk, withServer } from '../cli.mjs'

export async function run() {
  const dir = await mkdtemp(join(tmpdir(), 'tej-demo-'))
  try {
    const file = join(dir, 'notes.txt')
    await writeFile(file, 'a small file, streamed both ways\n')
    await withServer('tej', [], async (address) => {
      const args = ['send', address, '--status', '5', '--message', 'hello from tej', '--file', file]
      console.log(`tej send ${address} --status 5 --message 'hello from tej' --file notes.txt`)
      for (const line of (await runCliOk('tej', args)).split('\n')) console.log(`  < ${line}`)
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
