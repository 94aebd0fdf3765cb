#!/usr/bin/env node
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connect } from './client.ts'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { demoHandler } from './demo-handler.ts'
import { createServer } from './server.ts'

export const USAGE = `Usage:
  oneline serve [--host H] [--port ${DEFAULT_PORT}] [--strip-cr] [--no-shutdown]
      Serve the demo handler (echo TEXT, count N) until SIGINT, SIGTERM or a shutdown command.
  oneline send HOST:PORT COMMAND... [--lines N] [--timeout MS] [--json]
      Send each command and print N response lines for each (default 1).

Exit codes: 0 success, 2 usage, connection or protocol error.
`

/** Where the CLI writes, and what stops `serve`; the bin passes the process's own. */
export interface CliIO {
  stdout: { write(text: string): unknown }
  stderr: { write(text: string): unknown }
  /** Aborting stops `serve` gracefully. */
  signal?: AbortSignal
}

class CliUsageError extends Error {}

/** Runs `oneline` with `argv` (without node and the script) and resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const [verb, ...rest] = argv
  if (verb === '--help' || verb === '-h') {
    io.stdout.write(USAGE)
    return 0
  }
  try {
    if (verb === 'serve') return await serve(rest, io)
    if (verb === 'send') return await send(rest, io)
    throw new CliUsageError(verb === undefined ? 'missing command' : `unknown command: ${verb}`)
  } catch (err) {
    if (!(err instanceof CliUsageError) && !isParseArgsError(err)) throw err
    io.stderr.write(`oneline: ${err.message}\n${USAGE}`)
    return 2
  }
}

function isParseArgsError(err: unknown): err is Error {
  return err instanceof TypeError && 'code' in err && typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')
}

async function serve(args: readonly string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      host: { type: 'string', default: DEFAULT_HOST },
      port: { type: 'string', default: String(DEFAULT_PORT) },
      'strip-cr': { type: 'boolean', default: false },
      'no-shutdown': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    io.stdout.write(USAGE)
    return 0
  }
  const port = integer('--port', values.port, 0, 65_535)
  const server = createServer({ handler: demoHandler, stripCR: values['strip-cr'], allowShutdown: !values['no-shutdown'] })
  server.on('clientError', (err, peer) => io.stderr.write(`client ${peer.address}:${peer.port}: ${err.code}: ${err.message}\n`))
  server.on('handlerError', (err, ctx) => io.stderr.write(`handler failed for ${ctx.peer.address}:${ctx.peer.port}: ${String(err)}\n`))
  const closed = new Promise<void>((resolve) => server.once('close', resolve))
  let address: { host: string; port: number }
  try {
    address = await server.listen({ host: values.host, port })
  } catch (err) {
    io.stderr.write(`oneline: cannot listen on ${values.host}:${port}: ${message(err)}\n`)
    await server.close()
    return 2
  }
  io.stdout.write(`listening ${hostPort(address.host, address.port)}\n`)
  const stop = (): void => void server.close()
  if (io.signal?.aborted === true) stop()
  io.signal?.addEventListener('abort', stop, { once: true })
  await closed
  io.signal?.removeEventListener('abort', stop)
  return 0
}

async function send(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      lines: { type: 'string', default: '1' },
      timeout: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    io.stdout.write(USAGE)
    return 0
  }
  const [target, ...commands] = positionals
  if (target === undefined) throw new CliUsageError('missing HOST:PORT')
  if (commands.length === 0) throw new CliUsageError('missing COMMAND')
  const { host, port } = parseTarget(target)
  const lines = integer('--lines', values.lines, 0, Number.MAX_SAFE_INTEGER)
  const timeout = values.timeout === undefined ? undefined : integer('--timeout', values.timeout, 1, Number.MAX_SAFE_INTEGER)
  try {
    const client = await connect(timeout === undefined ? { host, port } : { host, port, timeout })
    try {
      for (const command of commands) {
        const reply = await client.request(command, { lines })
        io.stdout.write(values.json ? `${JSON.stringify(reply)}\n` : reply.map((line) => `${line}\n`).join(''))
      }
    } catch (err) {
      await client.close().catch(() => {})
      throw err
    }
    await client.close()
    return 0
  } catch (err) {
    const code = errorCode(err)
    io.stderr.write(`oneline: ${code}: ${message(err)}\n`)
    if (values.json) io.stdout.write(`${JSON.stringify({ error: { code, message: message(err) } })}\n`)
    return 2
  }
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new CliUsageError(`${flag} must be an integer from ${min} to ${max}, got ${text}`)
  return value
}

/** `HOST:PORT`, with `[v6]:PORT` for IPv6 addresses. */
function parseTarget(target: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]+)$/.exec(target)
  if (match === null) throw new CliUsageError(`expected HOST:PORT, got ${target}`)
  const [, v6, name, port = ''] = match
  return { host: v6 ?? name ?? '', port: integer('port', port, 1, 65_535) }
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    if ('code' in err && typeof err.code === 'string') return err.code
    if ('name' in err && typeof err.name === 'string') return err.name
  }
  return 'ERR_UNKNOWN'
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function isMain(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}

if (isMain()) {
  const controller = new AbortController()
  const stop = (): void => controller.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, signal: controller.signal })
  process.off('SIGINT', stop)
  process.off('SIGTERM', stop)
  process.exitCode = code
}
