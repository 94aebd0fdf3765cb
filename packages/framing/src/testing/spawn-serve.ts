// spawnServe: a built bin's `serve` verb in a child process, once it has printed its listening line.
import type { ChildProcessByStdio } from 'node:child_process'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import process from 'node:process'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'

/** What `spawnServe` resolves with: a child serving, to be ended with a signal. */
export interface SpawnedServe {
  /** The child; `child.kill('SIGTERM')` asks it to stop. */
  child: ChildProcessByStdio<null, Readable, Readable>
  /** What the listening line names: `127.0.0.1:PORT`, `[::1]:PORT`, or a unix socket path. */
  address: string
  /** The port of a TCP `address`; undefined for a socket path. */
  port: number | undefined
  /** Resolves with the exit code once the child has exited and its output is all read; null if a signal ended it. */
  exit: Promise<number | null>
  /** What it has printed on stderr so far. */
  stderr: () => string
}

/**
 * Runs `node bin ...args` (args start with the verb, `serve`) in a child process and resolves once
 * its first stdout line is `listening <address>`. Rejects if the child exits first, or prints
 * another line first (it is then killed), saying what it printed on stderr. The caller ends it,
 * e.g. `child.kill('SIGTERM')`, then `await exit`.
 */
export async function spawnServe(bin: string, args: readonly string[]): Promise<SpawnedServe> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => (stderr += chunk))
  // 'close', not 'exit': at 'exit' the pipes may still hold what the child printed last.
  const exit = (once(child, 'close') as Promise<[number | null]>).then(([code]) => code)
  const lines = createInterface({ input: child.stdout })
  const first = await Promise.race([once(lines, 'line') as Promise<[string]>, exit.then((code) => ({ code }))])
  lines.close()
  // The rest of stdout is read and dropped, so a chatty server never blocks on a full pipe.
  child.stdout.resume()
  if (!Array.isArray(first)) throw new Error(`${args.join(' ')} exited with ${first.code} before it listened: ${stderr}`)
  const [line] = first
  const address = /^listening (.+)$/.exec(line)?.[1]
  if (address === undefined) {
    child.kill()
    await exit
    throw new Error(`${args.join(' ')} printed ${JSON.stringify(line)} where the listening line belongs: ${stderr}`)
  }
  const port = /:(\d+)$/.exec(address)?.[1]
  return { child, address, port: port === undefined ? undefined : Number(port), exit, stderr: () => stderr }
}
