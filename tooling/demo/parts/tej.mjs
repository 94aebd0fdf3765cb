// tej: the `tej` CLI on both sides. `serve` echoes frames on a free port; `send` sends one frame
// with a message and a small file (streamed from disk, hashed while it streams back) and prints
// the echo as JSON; SIGTERM then stops the server, which closes gracefully.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const manifest = import.meta.resolve('@proto/tej/package.json')
const cli = fileURLToPath(new URL('dist/cli.js', manifest))

/** Runs `tej ...args` to the end and returns its stdout; fails unless it exits 0. */
async function tej(...args) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const out = []
  const err = []
  child.stdout.on('data', (chunk) => out.push(chunk))
  child.stderr.on('data', (chunk) => err.push(chunk))
  const [code] = await once(child, 'exit')
  if (code !== 0) throw new Error(`tej ${args.join(' ')} exited with ${code}: ${Buffer.concat(err)}`)
  return Buffer.concat(out).toString()
}

export async function run() {
  const dir = await mkdtemp(join(tmpdir(), 'tej-demo-'))
  const file = join(dir, 'notes.txt')
  await writeFile(file, 'a small file, streamed both ways\n')

  const server = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = once(server, 'exit')
  let failure
  try {
    const [line] = await Promise.race([
      once(createInterface({ input: server.stdout }), 'line'),
      exited.then(([code]) => Promise.reject(new Error(`tej serve exited with ${code} before listening`))),
    ])
    console.log(`tej serve: ${line}`)
    const address = line.slice('listening '.length)
    const args = ['send', address, '--status', '5', '--message', 'hello from tej', '--file', file]
    console.log(`tej send ${address} --status 5 --message 'hello from tej' --file notes.txt`)
    console.log(`  < ${(await tej(...args)).trimEnd()}`)
  } catch (err) {
    failure = err
  }
  server.kill('SIGTERM')
  const [code, signal] = await exited
  console.log(`tej serve stopped by SIGTERM: ${signal ?? `exit ${code}`}`)
  await rm(dir, { recursive: true, force: true })
  if (failure !== undefined) throw failure
  if (code !== 0) throw new Error(`tej serve ended with ${signal ?? `exit ${code}`}`)
}
