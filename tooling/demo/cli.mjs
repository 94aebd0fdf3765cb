// What every protocol's demo part does with its package's bin: start `serve` on a free port,
// run client verbs against it, then stop the server with SIGTERM and insist it exits 0.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The built bin of `@proto/<name>`, run with this Node rather than through node_modules/.bin. */
export function cliPath(name) {
  return fileURLToPath(new URL('dist/cli.js', import.meta.resolve(`@proto/${name}/package.json`)))
}

/** Runs `<name> ...args` to the end: its exit code and trimmed output. */
export async function runCli(name, args) {
  const child = spawn(process.execPath, [cliPath(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const out = []
  const err = []
  child.stdout.on('data', (chunk) => out.push(chunk))
  child.stderr.on('data', (chunk) => err.push(chunk))
  const [code] = await once(child, 'close')
  return { code, out: Buffer.concat(out).toString().trimEnd(), err: Buffer.concat(err).toString().trimEnd() }
}

/** Like runCli, but a non-zero exit is an error. */
export async function runCliOk(name, args) {
  const result = await runCli(name, args)
  if (result.code !== 0) throw new Error(`${name} ${args.join(' ')} exited with ${result.code}: ${result.err}`)
  return result.out
}

/**
 * Runs `<name> serve --host 127.0.0.1 --port 0 ...serveArgs`, hands `use` the `host:port` of its
 * listening line, then stops it with SIGTERM, whatever `use` did.
 */
export async function withServer(name, serveArgs, use) {
  const server = spawn(process.execPath, [cliPath(name), 'serve', '--host', '127.0.0.1', '--port', '0', ...serveArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = once(server, 'exit')
  let failure
  try {
    const [line] = await Promise.race([
      once(createInterface({ input: server.stdout }), 'line'),
      exited.then(([code]) => Promise.reject(new Error(`${name} serve exited with ${code} before listening`))),
    ])
    const address = /^listening (\S+)$/.exec(line)?.[1]
    if (address === undefined) throw new Error(`${name} serve printed ${JSON.stringify(line)}`)
    console.log(`${name} serve: ${line}`)
    await use(address)
  } catch (err) {
    failure = err
  }
  server.kill('SIGTERM')
  const [code, signal] = await exited
  console.log(`${name} serve stopped by SIGTERM: ${signal ?? `exit ${code}`}`)
  if (failure !== undefined) throw failure
  if (code !== 0) throw new Error(`${name} serve ended with ${signal ?? `exit ${code}`}`)
}

/** A command line as a person would type it. */
export function shown(args) {
  return args.map((arg) => (/[\s{"]/.test(arg) ? `'${arg}'` : arg)).join(' ')
}
