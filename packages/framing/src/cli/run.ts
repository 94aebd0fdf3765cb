// Running a declared command line: verb dispatch, help, version, the error report and the process wiring of a bin.
import { readFileSync, realpathSync } from 'node:fs'
import process from 'node:process'
import { Readable } from 'node:stream'
import type { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { escapeControl } from '../escape.ts'
import type { CliDefinition, VerbContext } from './definition.ts'
import { CliInterruptedError, CliReadError, CliUsageError } from './errors.ts'
import { cliHelp, cliUsage, verbHelp } from './help.ts'
import { CliOutput } from './output.ts'
import { parseVerb } from './parse.ts'
import { describeError, errorJson, exitCodeOf } from './report.ts'
import { closest } from '../suggest.ts'

/** The streams and signals a run uses; a bin passes the process's own. */
export interface CliIO {
  /** Results, help, and errors again as JSON with `--json`. */
  stdout: Writable
  /** Errors and server notes. */
  stderr: Writable
  /** What `decode -` reads. @default an empty stream */
  stdin?: Readable | undefined
  /** Aborting asks the verb to stop gracefully (a bin: the first SIGINT or SIGTERM). @default never aborts */
  signal?: AbortSignal | undefined
  /** Aborting asks the verb to stop now (a bin: the second signal). @default never aborts */
  forceSignal?: AbortSignal | undefined
}

const never = new AbortController().signal

/**
 * Runs `argv` (without node and the script) against `cli` and resolves with the exit code: 0 on
 * success, 1 when the peer reported the error, 2 on a usage, local, connection or protocol error
 * (a verb may resolve with its own code). Never rejects: whatever a verb throws is printed on
 * stderr as `<bin>: <message> (<code>)` with a `  cause:` line per cause, and with `--json` also
 * as `{"error":{"code","message"}}` on stdout.
 */
export async function runCli(cli: CliDefinition, argv: readonly string[], io: CliIO): Promise<number> {
  const out = new CliOutput(io.stdout, io.stderr)
  const [first, ...rest] = argv
  try {
    if (first === '--help' || first === '-h') return await helpText(io.stdout, cliHelp(cli))
    if (first === '--version') return await helpText(io.stdout, `${versionOf(cli)}\n`)
    const verb = cli.verbs.find((v) => v.name === first)
    if (verb === undefined) {
      const names = cli.verbs.map((v) => v.name)
      let message: string
      if (first === undefined) message = `missing command: one of ${names.join(', ')}`
      else if (first.startsWith('-')) message = `unknown option ${first} before the command`
      else {
        const guess = closest(first, names)
        message = `unknown command ${first}${guess === undefined ? '' : `, did you mean ${guess}?`}`
      }
      return usageMistake(cli, out, io.stderr, new CliUsageError(message), cliUsage(cli), false)
    }
    const parsed = parseVerb(verb, rest)
    if (parsed.kind === 'help') return await helpText(io.stdout, verbHelp(cli, verb))
    if (parsed.kind === 'error') return usageMistake(cli, out, io.stderr, parsed.error, verbHelp(cli, verb), parsed.json)
    const ctx: VerbContext = {
      values: parsed.values as VerbContext['values'],
      args: parsed.args as VerbContext['args'],
      out,
      get stdin() {
        return io.stdin ?? Readable.from([])
      },
      signal: io.signal ?? never,
      forceSignal: io.forceSignal ?? never,
      cli,
    }
    try {
      return (await verb.run(ctx)) ?? 0
    } catch (err) {
      if (err instanceof CliUsageError) return usageMistake(cli, out, io.stderr, err, verbHelp(cli, verb), parsed.json)
      return await failure(cli, out, err, parsed.json)
    }
  } catch (err) {
    return failure(cli, out, err, false)
  }
}

function helpText(stdout: Writable, text: string): Promise<number> {
  return new Promise((resolve) => {
    stdout.write(text, () => resolve(0))
  })
}

function versionOf(cli: CliDefinition): string {
  if (typeof cli.version === 'string') return cli.version
  const path = fileURLToPath(cli.version)
  let version: unknown
  try {
    version = (JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown } | null)?.version
  } catch (err) {
    throw new CliReadError(`cannot read the version from ${path}`, { cause: err })
  }
  if (typeof version !== 'string') throw new CliReadError(`${path} has no version`)
  return version
}

async function usageMistake(cli: CliDefinition, out: CliOutput, stderr: Writable, err: CliUsageError, usage: string, json: boolean): Promise<number> {
  for (const line of describeError(cli.name, err)) out.warn(line)
  stderr.write(`\n${usage}`)
  if (json) await out.printJson({ error: errorJson(err) }).catch(() => {})
  return 2
}

async function failure(cli: CliDefinition, out: CliOutput, err: unknown, json: boolean): Promise<number> {
  for (const line of describeError(cli.name, err)) out.warn(line)
  // A stdout that failed has already been reported through the error itself.
  if (json) await out.printJson({ error: errorJson(err) }).catch(() => {})
  return exitCodeOf(err)
}

/**
 * Runs `cli` with the process's arguments, streams and signals when `moduleUrl` (the bin's
 * `import.meta.url`) is the script Node was started with, and sets `process.exitCode`; does
 * nothing when the module is imported. The first SIGINT or SIGTERM aborts the verb's `signal`,
 * the second its `forceSignal`, a third exits with 130 at once. An error thrown outside the verb's
 * promise (an unhandled rejection, an uncaught exception) is printed in the same format, and the
 * process exits with 2: never a stack trace.
 */
export async function runIfMain(cli: CliDefinition, moduleUrl: string | URL): Promise<void> {
  if (!isMainModule(moduleUrl)) return
  const stop = new AbortController()
  const force = new AbortController()
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stop.signal.aborted) stop.abort(new CliInterruptedError(signal))
    else if (!force.signal.aborted) force.abort(new CliInterruptedError(signal))
    else process.exit(130)
  }
  const onFatal = (err: unknown): void => {
    for (const line of describeError(cli.name, err)) process.stderr.write(`${escapeControl(line)}\n`)
    process.exit(2)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('uncaughtException', onFatal)
  process.on('unhandledRejection', onFatal)
  const io: CliIO = {
    stdout: process.stdout,
    stderr: process.stderr,
    // Opened only when a verb reads it, so a bin that does not leaves the terminal alone.
    get stdin() {
      return process.stdin
    },
    signal: stop.signal,
    forceSignal: force.signal,
  }
  process.exitCode = await runCli(cli, process.argv.slice(2), io)
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
}

function isMainModule(moduleUrl: string | URL): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl))
  } catch {
    return false
  }
}
