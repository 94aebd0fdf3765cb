#!/usr/bin/env node
import { realpathSync } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import type { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { isProtoError } from '@proto/framing'
import { asFile, connect, isBinaryResult } from './client.ts'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { demoMethods } from './demo.ts'
import { ErrorCode, RemoteError } from './errors.ts'
import { createServer } from './server.ts'

const USAGE = `Usage:
  krpc serve [--host H] [--port ${DEFAULT_PORT}] [--expose-errors]
  krpc call URL|HOST:PORT METHOD [JSON_ARG]... [--file PATH]... [--get] [--pmh JSON] [--timeout MS] [--json]

serve   serves the demo methods echo(x), add(a, b), upload(file) and fail(), and prints
        "listening <host>:<port>" first; SIGINT or SIGTERM closes it.
call    calls METHOD with the JSON arguments, then one file argument per --file, and prints
        the result as one JSON line (a binary result raw). --json prints {"result": ...} or
        {"error": {...}}.

Exit status: 0 success, 1 the server reported an error, 2 a local, connection or usage error.
`

/** Where the CLI writes, and what stops `serve` besides SIGINT and SIGTERM. */
export interface CliIo {
  stdout: Writable
  stderr: Writable
  /** Stops `serve` as a signal would. */
  signal?: AbortSignal
}

class UsageProblem extends Error {}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value)) throw new UsageProblem(`--${name} takes a whole number, got ${value}`)
  return Number(value)
}

function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new UsageProblem(`${what} is not JSON: ${text}`)
  }
}

function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve) => {
    stream.write(text, () => resolve())
  })
}

async function serve(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { host: { type: 'string' }, port: { type: 'string' }, 'expose-errors': { type: 'boolean' } },
    strict: true,
    allowPositionals: false,
  })
  const port = integer('port', values.port, DEFAULT_PORT)
  const server = createServer({ handlers: demoMethods, exposeErrors: values['expose-errors'] ?? false })
  server.on('clientError', (err, peer) => {
    io.stderr.write(`client ${peer.address}:${peer.port}: ${err.code}: ${err.message}\n`)
  })
  const stop = new AbortController()
  const onSignal = (): void => stop.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  io.signal?.addEventListener('abort', onSignal, { once: true })
  try {
    const address = await server.listen({ host: values.host ?? DEFAULT_HOST, port })
    const host = address.host.includes(':') ? `[${address.host}]` : address.host
    await write(io.stdout, `listening ${host}:${address.port}\n`)
    if (!stop.signal.aborted) await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }))
    await server.close({ signal: AbortSignal.timeout(5000) })
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

function targetUrl(target: string): string {
  return target.includes('://') ? target : `http://${target}/`
}

async function call(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      file: { type: 'string', multiple: true },
      get: { type: 'boolean' },
      pmh: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  })
  const [target, method, ...jsonArgs] = positionals
  if (target === undefined || method === undefined) throw new UsageProblem('call needs a URL and a METHOD')
  const params: unknown[] = jsonArgs.map((text) => parseJson('JSON_ARG', text))
  for (const path of values.file ?? []) params.push(asFile({ path }))
  const pmhparams = values.pmh === undefined ? undefined : parseJson('--pmh', values.pmh)
  const timeout = values.timeout === undefined ? undefined : integer('timeout', values.timeout, 0)
  const json = values.json ?? false
  const client = await connect({ url: targetUrl(target) })
  try {
    const result = await client.call(method, params, {
      via: values.get === true ? 'get' : 'post',
      ...(pmhparams === undefined ? {} : { pmhparams }),
      ...(timeout === undefined ? {} : { timeout }),
    })
    if (isBinaryResult(result)) {
      await pipeline(Readable.fromWeb(result.stream()), io.stdout, { end: false })
    } else {
      await write(io.stdout, `${JSON.stringify(json ? { result: result ?? null } : result ?? null)}\n`)
    }
    return 0
  } catch (err) {
    const remote = err instanceof RemoteError
    const status = isProtoError(err) && err.code === ErrorCode.HTTP_STATUS
    const message = err instanceof Error ? err.message : String(err)
    const code = isProtoError(err) ? err.code : err instanceof Error && err.name === 'TimeoutError' ? 'TimeoutError' : 'ERR_KRPC'
    const detail = remote ? ` (${err.rpcCode}${err.data === undefined ? '' : `, ${JSON.stringify(err.data)}`})` : ''
    io.stderr.write(`krpc: ${code}: ${message}${detail}\n`)
    if (json) {
      const error: Record<string, unknown> = { code, message }
      if (remote) {
        error.rpcCode = err.rpcCode
        if (err.data !== undefined) error.data = err.data
      }
      await write(io.stdout, `${JSON.stringify({ error })}\n`)
    }
    return remote || status ? 1 : 2
  } finally {
    await client.close()
  }
}

/** Runs the `krpc` command line; resolves with the exit status. */
export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [command, ...rest] = argv
  if (command === '--help' || command === '-h' || rest.includes('--help') || rest.includes('-h')) {
    await write(io.stdout, USAGE)
    return 0
  }
  try {
    if (command === 'serve') return await serve(rest, io)
    if (command === 'call') return await call(rest, io)
    throw new UsageProblem(command === undefined ? 'a command is needed' : `unknown command ${command}`)
  } catch (err) {
    const usage = err instanceof UsageProblem || (err instanceof Error && (err as { code?: unknown }).code?.toString().startsWith('ERR_PARSE_ARGS') === true)
    if (!usage) throw err
    io.stderr.write(`krpc: ${err.message}\n\n${USAGE}`)
    return 2
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then((status) => {
    process.exitCode = status
  }, (err: unknown) => {
    process.stderr.write(`krpc: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 2
  })
}
