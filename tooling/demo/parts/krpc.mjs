// krpc: `krpc serve` on a free port through the CLI, then `krpc call` for each demo method.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const cli = join(dirname(fileURLToPath(import.meta.resolve('@proto/krpc/package.json'))), 'dist', 'cli.js')

/** Runs the CLI to the end; resolves with its exit code and output. */
async function krpc(...args) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => { stdout += chunk })
  child.stderr.on('data', (chunk) => { stderr += chunk })
  const [code] = await once(child, 'exit')
  return { code, stdout: stdout.trim(), stderr: stderr.trim() }
}

export async function run() {
  const server = spawn(process.execPath, [cli, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const dir = await mkdtemp(join(tmpdir(), 'krpc-demo-'))
  try {
    const lines = createInterface({ input: server.stdout })
    const first = await Promise.race([
      once(lines, 'line').then(([line]) => line),
      once(server, 'exit').then(([code]) => { throw new Error(`krpc serve exited with ${code} before listening`) }),
    ])
    console.log(`krpc serve --port 0 → ${first}`)
    const address = first.slice('listening '.length)
    const file = join(dir, 'hello.txt')
    await writeFile(file, 'hello from the krpc demo\n')
    const calls = [
      ['echo', '"hello"'],
      ['add', '40', '2'],
      ['upload', '--file', file],
      ['fail'],
    ]
    for (const args of calls) {
      const { code, stdout, stderr } = await krpc('call', address, ...args)
      const shown = args.map((arg) => (arg === file ? 'hello.txt' : arg)).join(' ')
      console.log(`krpc call ${shown} → ${stdout || stderr} (exit ${code})`)
      const expected = args[0] === 'fail' ? 1 : 0
      if (code !== expected) throw new Error(`krpc call ${args[0]} exited with ${code}, expected ${expected}`)
    }
  } finally {
    if (server.exitCode === null) {
      server.kill('SIGTERM')
      await once(server, 'exit')
    }
    console.log(`krpc serve stopped with SIGTERM (exit ${server.exitCode})`)
    await rm(dir, { recursive: true, force: true })
  }
}
