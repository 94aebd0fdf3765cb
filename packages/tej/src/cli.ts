#!/usr/bin/env node
import { Buffer } from 'node:buffer'
import { createHash } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { basename } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connect } from './client.ts'
import type { TejConnection } from './connection.ts'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { TejClosedError } from './errors.ts'
import type { TejIncomingFrame } from './incoming.ts'
import { raceAbort } from './race-abort.ts'
import { createServer } from './server.ts'

const USAGE = `Usage:
  tej serve [--host HOST] [--port PORT]
  tej send HOST:PORT [--message TEXT] [--file PATH]... [--status N] [--expect N] [--timeout MS] [--json]

serve  echoes every frame back unchanged (pings are not echoed); prints "listening HOST:PORT",
       then runs until SIGINT or SIGTERM. --host defaults to ${DEFAULT_HOST}, --port to ${DEFAULT_PORT}.
send   sends one frame (each file under its base name, streamed from disk), waits for N frames
       (--expect, default 1) and prints each as a JSON line {status, message, files: [{name, size, sha256}]}.

Exit codes: 0 success; 2 usage, connection or protocol error.
`

/** Milliseconds `serve` waits for peers to finish after SIGINT/SIGTERM before destroying them. */
const SERVE_GRACE_MS = 5000

/** Where the CLI writes, and what stops `serve`. */
export interface CliIo {
  stdout: { write(text: string): unknown }
  stderr: { write(text: string): unknown }
  /** `serve` closes when this aborts (the bin wires it to SIGINT and SIGTERM). */
  signal?: AbortSignal | undefined
}

class CliUsageError extends Error {}

/** Runs the CLI with `argv` (without `node` and the script); resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv
  let json = false
  try {
    switch (command) {
      case '--help':
      case '-h':
        io.stdout.write(USAGE)
        return 0
      case 'serve':
        return await serve(args, io)
      case 'send':
        json = args.includes('--json')
        return await send(args, io)
      case undefined:
        throw new CliUsageError('missing command')
      default:
        throw new CliUsageError(`unknown command ${JSON.stringify(command)}`)
    }
  } catch (err) {
    if (err instanceof CliUsageError || isParseArgsError(err)) {
      io.stderr.write(`tej: ${(err as Error).message}\n${USAGE}`)
      return 2
    }
    const code = errorCode(err)
    const message = err instanceof Error ? err.message : String(err)
    io.stderr.write(`tej: ${code}: ${message}\n`)
    if (json) io.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`)
    return 2
  }
}

async function serve(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { host: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
  if (values.help === true) {
    io.stdout.write(USAGE)
    return 0
  }
  const port = parseInteger('--port', values.port, DEFAULT_PORT, 0, 65_535)
  const server = createServer({
    // Echo as received; buffered, so bounded by maxBufferedBytes.
    onFrame: async (frame, conn) => {
      await conn.send(await frame.buffer())
    },
  })
  server.on('clientError', (err, conn) => {
    io.stderr.write(`tej: client ${peerName(conn)}: ${err.code}: ${err.message}\n`)
  })
  server.on('handlerError', (err, conn) => {
    io.stderr.write(`tej: client ${peerName(conn)}: ${errorCode(err)}: ${err instanceof Error ? err.message : String(err)}\n`)
  })
  const bound = await server.listen({ host: values.host ?? DEFAULT_HOST, port })
  io.stdout.write(`listening ${formatHost(bound.host)}:${bound.port}\n`)
  const stop = io.signal
  if (stop !== undefined && !stop.aborted) {
    await new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }))
  }
  await server.close({ signal: AbortSignal.timeout(SERVE_GRACE_MS) })
  return 0
}

async function send(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      message: { type: 'string' },
      file: { type: 'string', multiple: true },
      status: { type: 'string' },
      expect: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    io.stdout.write(USAGE)
    return 0
  }
  const [target, ...extra] = positionals
  if (target === undefined) throw new CliUsageError('missing HOST:PORT')
  if (extra.length > 0) throw new CliUsageError(`unexpected argument ${JSON.stringify(extra[0])}`)
  const { host, port } = parseTarget(target)
  const status = parseInteger('--status', values.status, 0, 0, Number.MAX_SAFE_INTEGER)
  const expect = parseInteger('--expect', values.expect, 1, 0, Number.MAX_SAFE_INTEGER)
  const timeout = values.timeout === undefined ? undefined : parseInteger('--timeout', values.timeout, 0, 1, 2_147_483_647)
  const signal = timeout === undefined ? undefined : AbortSignal.timeout(timeout)
  const within = <V>(promise: Promise<V>): Promise<V> => (signal === undefined ? promise : raceAbort(promise, signal))

  const conn = await connect({ host, port, signal })
  try {
    const files = (values.file ?? []).map((path) => ({ name: basename(path), path }))
    await conn.send({ status, files, message: values.message ?? '' }, { signal })
    const frames = conn[Symbol.asyncIterator]()
    for (let received = 0; received < expect; received += 1) {
      const next = await within(frames.next())
      if (next.done === true) throw new TejClosedError(`connection ended after ${received} of ${expect} frames`)
      io.stdout.write(`${JSON.stringify(await within(describe(next.value)))}\n`)
    }
    await frames.return?.()
  } finally {
    await finish(conn, signal)
  }
  return 0
}

/** Closes and waits for the peer to finish too; a fired timeout destroys instead. */
async function finish(conn: TejConnection, signal: AbortSignal | undefined): Promise<void> {
  await conn.close({ signal })
  await conn.closed
}

/** A frame as printed: files hashed while they stream. */
async function describe(frame: TejIncomingFrame): Promise<{
  status: number
  message: string
  files: { name: string; size: number; sha256: string }[]
}> {
  const files = []
  for await (const file of frame.files()) {
    const hash = createHash('sha256')
    let size = 0
    for await (const chunk of file) {
      hash.update(chunk)
      size += chunk.length
    }
    files.push({ name: file.name, size, sha256: hash.digest('hex') })
  }
  const message = Buffer.from(await frame.message()).toString('utf8')
  return { status: frame.status, message, files }
}

function parseTarget(target: string): { host: string; port: number } {
  const colon = target.lastIndexOf(':')
  if (colon <= 0) throw new CliUsageError(`expected HOST:PORT, got ${JSON.stringify(target)}`)
  const host = target.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  return { host, port: parseInteger('port', target.slice(colon + 1), 0, 0, 65_535) }
}

function parseInteger(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new CliUsageError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`)
  }
  return value
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

function peerName(conn: TejConnection): string {
  return `${formatHost(conn.remote.address)}:${conn.remote.port}`
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const { code, name } = err as { code?: unknown; name?: unknown }
    if (typeof code === 'string') return code
    if (typeof name === 'string') return name
  }
  return 'ERR_UNKNOWN'
}

function isParseArgsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')
}

const entry = process.argv[1]
if (entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  const stop = new AbortController()
  const onSignal = (): void => {
    stop.abort()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, signal: stop.signal })
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
}
