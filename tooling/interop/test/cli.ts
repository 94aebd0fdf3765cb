// Our command-line tools, run as their users run them: `node <bin>` in a process group of its
// own, ended with the test.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { defer } from '@proto/vitest-config/cleanup'
import { DRIVER_WAIT } from './driver.ts'
import type { Protocol } from './environment.ts'

const require = createRequire(import.meta.url)

/** The file the package's bin runs (its `dist/cli.js`). */
function binOf(protocol: Protocol): string {
  const manifestPath = require.resolve(`@proto/${protocol}/package.json`)
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { bin: Record<string, string> }
  const bin = manifest.bin[protocol]
  if (bin === undefined) throw new Error(`@proto/${protocol} has no ${protocol} bin`)
  return join(dirname(manifestPath), bin)
}

function start(protocol: Protocol, args: readonly string[]) {
  const child = spawn(process.execPath, [binOf(protocol), ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    await exited
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => (stderr += chunk))
  return { child, exited, stderr: () => stderr }
}

/** Runs `<protocol> ...args` to its end: exit code and output. */
export async function runCli(protocol: Protocol, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { child, exited, stderr } = start(protocol, args)
  let stdout = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => (stdout += chunk))
  let timer: NodeJS.Timeout | undefined
  const code = await Promise.race([
    exited,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${protocol} ${args.join(' ')} did not end within ${DRIVER_WAIT} ms: ${stderr()}`)), DRIVER_WAIT)
    }),
  ]).finally(() => clearTimeout(timer))
  return { code, stdout, stderr: stderr() }
}

/** Starts `<protocol> serve ...args` and resolves with the port of its `listening` line. */
export async function serveCli(protocol: Protocol, args: readonly string[]): Promise<number> {
  const { child, exited, stderr } = start(protocol, ['serve', ...args])
  const lines = createInterface({ input: child.stdout })
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    new Promise<number>((resolve) => lines.once('line', (line) => resolve(Number(/^listening .*:(\d+)$/.exec(line)?.[1])))),
    exited.then((code) => {
      throw new Error(`${protocol} serve exited (${code}): ${stderr()}`)
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${protocol} serve printed no listening line within ${DRIVER_WAIT} ms: ${stderr()}`)), DRIVER_WAIT)
    }),
  ]).finally(() => clearTimeout(timer))
}
