// serveMain: a bin's `serve` verb run in this process until the test stops it.
import type { CliIO } from '../cli/run.ts'
import type { OutputSink } from './output-sink.ts'
import type { CliMain } from './run-main.ts'
import { captureIO } from './run-main.ts'

/** What `serveMain` resolves with: a server that printed its listening line and runs until `stop()`. */
export interface ServingMain {
  /** What the listening line names: `127.0.0.1:PORT`, `[::1]:PORT`, or a unix socket path. */
  address: string
  /** The port of a TCP `address`; undefined for a socket path. */
  port: number | undefined
  /** Resolves with the exit code once `main` ends (after `stop()`, or on its own). */
  exit: Promise<number>
  /** Aborts the `signal` of `main`'s io, as a first SIGINT would; await `exit` for the code. */
  stop: () => void
  /** What it printed on stdout, the listening line first. */
  stdout: OutputSink
  /** What it printed on stderr: the notes on clients. */
  stderr: OutputSink
}

/**
 * Runs `main(argv)` in this process (argv starts with the verb, `serve`) and resolves once the
 * first stdout line is `listening <address>`, as every `@proto` serve verb prints. Rejects if
 * `main` exits first, with what it printed on stderr, or prints another line first (the server is
 * then stopped). The caller stops it: `stop()`, then `await exit`. `extra` adds stdin or the force
 * signal.
 */
export async function serveMain(main: CliMain, argv: readonly string[], extra: Partial<Omit<CliIO, 'stdout' | 'stderr' | 'signal'>> = {}): Promise<ServingMain> {
  const controller = new AbortController()
  const { io, stdout, stderr } = captureIO({ ...extra, signal: controller.signal })
  const exit = main(argv, io)
  const stop = (): void => controller.abort()
  const first = await Promise.race([stdout.firstLine(), exit.then((code) => ({ code }))])
  if (typeof first !== 'string') throw new Error(`${argv.join(' ')} exited with ${first.code} before it listened: ${stderr.text}`)
  const address = /^listening (.+)$/.exec(first)?.[1]
  if (address === undefined) {
    stop()
    await exit
    throw new Error(`${argv.join(' ')} printed ${JSON.stringify(first)} where the listening line belongs`)
  }
  const port = /:(\d+)$/.exec(address)?.[1]
  return { address, port: port === undefined ? undefined : Number(port), exit, stop, stdout, stderr }
}
