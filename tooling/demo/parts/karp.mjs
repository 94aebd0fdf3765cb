// karp: the `karp` CLI on both sides. `karp serve` runs on a free port, `karp request` calls its
// echo, upper and fail routes (fail is a remote failure: exit code 1), and SIGTERM stops the server,
// which closes gracefully and exits 0.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('dist/cli.js', import.meta.resolve('@proto/karp/package.json')))

/** Runs `karp ...args` to the end: its exit code, stdout and stderr. */
async function karp(...args) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const out = []
  const err = []
  child.stdout.on('data', (chunk) => out.push(chunk))
  child.stderr.on('data', (chunk) => err.push(chunk))
  const [code] = await once(child, 'close')
  return { code, out: Buffer.concat(out).toString().trimEnd(), err: Buffer.concat(err).toString().trimEnd() }
}

export async function run() {
  const server = spawn(process.execPath, [cli, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(server, 'exit')
  try {
    const lines = createInterface({ input: server.stdout })
    const [first] = await Promise.race([
      once(lines, 'line'),
      exited.then(([code]) => Promise.reject(new Error(`karp serve exited early with ${code}`))),
    ])
    const target = /^listening (\S+)$/.exec(first)?.[1]
    if (target === undefined) throw new Error(`karp serve printed ${JSON.stringify(first)}`)
    console.log(`karp serve: ${first}`)
    for (const args of [
      ['echo', 'hello karp'],
      ['upper', 'hello karp'],
      ['fail', 'anything'],
    ]) {
      const { code, out, err } = await karp('request', target, ...args)
      console.log(`$ karp request ${target} ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`)
      if (out !== '') console.log(out)
      if (err !== '') console.log(`stderr: ${err}`)
      console.log(`exit ${code}`)
    }
  } finally {
    server.kill('SIGTERM')
    const [code, signal] = await exited
    console.log(`karp serve stopped by SIGTERM: exit ${code ?? signal}`)
  }
}
