// runMain and captureIO: a bin's `main` run in this process against in-memory stdout and stderr.
import type { CliIO } from '../cli/run.ts'
import { OutputSink } from './output-sink.ts'

/** A bin's entry as `runCli` wraps it: `argv` without node and the script, resolving with the exit code. */
export type CliMain = (argv: readonly string[], io: CliIO) => Promise<number>

/** What `captureIO` returns: the `io` to pass to `main`, and its two outputs. */
export interface CapturedIO {
  /** `stdout` and `stderr` are the sinks below; the rest is what was passed in. */
  io: CliIO
  /** What `main` prints on stdout. */
  stdout: OutputSink
  /** What `main` prints on stderr. */
  stderr: OutputSink
}

/** How a `runMain` call ended: the exit code and all it printed, as text. */
export interface MainResult {
  /** The exit code `main` resolved with. */
  code: number
  /** All of stdout. */
  out: string
  /** All of stderr. */
  err: string
}

/** A `CliIO` whose stdout and stderr are new `OutputSink`s; `extra` adds stdin or the signals. */
export function captureIO(extra: Partial<Omit<CliIO, 'stdout' | 'stderr'>> = {}): CapturedIO {
  const stdout = new OutputSink()
  const stderr = new OutputSink()
  return { io: { ...extra, stdout, stderr }, stdout, stderr }
}

/**
 * Runs `main(argv)` in this process with captured output and resolves once it has, with its exit
 * code and output. `extra` adds stdin (`Readable.from([bytes])` for `decode -`) or the signals.
 */
export async function runMain(main: CliMain, argv: readonly string[], extra: Partial<Omit<CliIO, 'stdout' | 'stderr'>> = {}): Promise<MainResult> {
  const { io, stdout, stderr } = captureIO(extra)
  const code = await main(argv, io)
  return { code, out: stdout.text, err: stderr.text }
}

