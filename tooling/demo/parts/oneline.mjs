// oneline: the `oneline` CLI on both sides. `serve` runs on a free port; `send` runs twice against
// it (one line, then three); SIGTERM then stops the server, which exits 0.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('dist/cli.js', import.meta.resolve('@proto/oneline/package.json')))

/** Runs `oneline ...args` to the end and returns its stdout; fails unless it exits 0. */
async function oneline(...args) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const out = []
  const err = []
  child.stdout.on('data', (chunk) => out.push(chunk))
  child.stderr.on('data', (chunk) => err.push(chunk))
  const [code] = await once(child, 'exit')
  if (code !== 0) throw new Error(`oneline ${args.join(' ')} exited with ${code}: ${Buffer.concat(err)}`)
  return Buffer.concat(out).toString()
}

export async function run() {
  const server = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = once(server, 'exit')
  let failure
  try {
    const [line] = await Promise.race([
      once(createInterface({ input: server.stdout }), 'line'),
      exited.then(([code]) => Promise.reject(new Error(`oneline serve exited with ${code} before listening`))),
    ])
    console.log(`oneline serve: ${line}`)
    const address = line.slice('listening '.length)
    for (const args of [['echo hello'], ['count 3', '--lines', '3']]) {
      const output = await oneline('send', address, ...args)
      console.log(`oneline send ${address} ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`)
      for (const reply of output.trimEnd().split('\n')) console.log(`  < ${reply}`)
    }
  } catch (err) {
    failure = err
  }
  server.kill('SIGTERM')
  const [code, signal] = await exited
  console.log(`oneline serve stopped by SIGTERM: ${signal ?? `exit ${code}`}`)
  if (failure !== undefined) throw failure
  if (code !== 0) throw new Error(`oneline serve ended with ${signal ?? `exit ${code}`}`)
}
