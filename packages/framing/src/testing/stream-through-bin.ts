// streamThroughBin: a built bin fed a large stdin in a child process, with its peak memory.
import { Buffer } from 'node:buffer'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import process from 'node:process'
import type { Readable } from 'node:stream'

/** Options of `streamThroughBin`. */
export interface StreamThroughBinOptions {
  /** The built bin (`dist/cli.js`), run with this Node. */
  bin: string
  /** Its arguments, e.g. `['decode', '-']`. */
  args: readonly string[]
  /** What is written to its stdin, `times` times over, waiting for the pipe to drain. */
  block: Uint8Array
  /** How many times `block` is written. */
  times: number
}

/** How the child of `streamThroughBin` ended, and what it printed. */
export interface StreamThroughBinResult {
  /** Its exit code; null if a signal ended it. */
  code: number | null
  /** The first 64 KiB of its stderr. */
  stderr: string
  /** How many LF bytes it wrote on stdout. */
  lines: number
  /** Its last non-empty stdout line, from the last 64 KiB of stdout. */
  lastLine: string
  /**
   * Its peak resident set size in MiB, as `process.resourceUsage().maxRSS` had it at exit; 0 when
   * it never reached its exit handlers (a signal ended it), so a bound from below catches that.
   */
  maxRssMiB: number
}

// Kept of the output: enough for an error message or a last line, never all of a large stream.
const KEEP_BYTES = 64 * 1024
// Loaded before the bin with --import: writes the peak RSS (KiB) to fd 3 as the child exits.
const PRELOAD = `data:text/javascript,${encodeURIComponent("import{writeSync}from'node:fs';process.on('exit',()=>writeSync(3,String(process.resourceUsage().maxRSS)))")}`

/**
 * Runs `node bin ...args` in a child process, writes `block` to its stdin `times` times and ends
 * it, and resolves once the child has exited with its exit code, the LF count and last line of its
 * stdout, its stderr and its peak RSS: for a test that a streaming verb such as `decode -` keeps
 * flat memory whatever the size of its input. Memory is only read in the child, so the test's own
 * heap does not count.
 */
export async function streamThroughBin(options: StreamThroughBinOptions): Promise<StreamThroughBinResult> {
  const child = spawn(process.execPath, ['--import', PRELOAD, options.bin, ...options.args], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] })
  const rss: Buffer[] = []
  let stderr = Buffer.alloc(0)
  let lines = 0
  let tail = Buffer.alloc(0)
  ;(child.stdio[3] as Readable).on('data', (chunk: Buffer) => rss.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < KEEP_BYTES) stderr = Buffer.concat([stderr, chunk]).subarray(0, KEEP_BYTES)
  })
  child.stdout.on('data', (chunk: Buffer) => {
    for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) lines += 1
    tail = Buffer.concat([tail, chunk]).subarray(-KEEP_BYTES)
  })
  // A child that exits early closes stdin; what is still written then fails, and the exit says why.
  child.stdin.on('error', () => {})
  const closed = once(child, 'close') as Promise<[number | null]>
  for (let i = 0; i < options.times && child.stdin.writable; i++) {
    if (!child.stdin.write(options.block)) await Promise.race([once(child.stdin, 'drain').catch(() => undefined), closed])
  }
  child.stdin.end()
  const [code] = await closed
  return {
    code,
    stderr: stderr.toString('utf8'),
    lines,
    lastLine: tail.toString('utf8').trimEnd().split('\n').at(-1) ?? '',
    maxRssMiB: Number(Buffer.concat(rss).toString()) / 1024,
  }
}
