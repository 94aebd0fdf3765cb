#!/usr/bin/env node
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connect } from './client.ts'
import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT } from './constants.ts'
import { ErrorCode } from './errors.ts'
import type { KarpContext, KarpHandler, KarpPeer } from './peer.ts'
import { createServer } from './server.ts'

const USAGE = `Usage:
  karp serve [--host H] [--port ${DEFAULT_PORT}]
  karp request HOST:PORT ROUTE [DATA] [--no-reply] [--timeout MS] [--json]

serve    serves the demo routes echo, upper and fail until SIGINT or SIGTERM
request  sends DATA (default empty) to ROUTE and prints the reply as UTF-8

Options:
  --host H       address to bind (default ${DEFAULT_HOST})
  --port N       port to bind; 0 picks a free one (default ${DEFAULT_PORT})
  --no-reply     send a notification and exit once it is written
  --timeout MS   connect and reply timeout in milliseconds (default ${DEFAULT_TIMEOUT})
  --json         print {"success", "data"}, or {"error": {"code", "message"}}
  -h, --help     print this help

Exit codes: 0 success, 1 the peer answered with a failure, 2 local, connection or protocol error.
`

// Connections still open this long after SIGINT/SIGTERM, or after the reply (or `--timeout`, when
// shorter), are cut: a peer that never ends its side (the original does not) must not keep the
// process alive.
const CLOSE_GRACE_MS = 2000

/** Where the CLI writes, and what stops `serve` (SIGINT/SIGTERM when absent). */
export interface CliIo {
  stdout: { write(text: string): unknown }
  stderr: { write(text: string): unknown }
  stop?: AbortSignal | undefined
}

class UsageMistake extends Error {}

const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** The routes `karp serve` offers. */
export const demoRoutes: Record<string, KarpHandler> = {
  echo: (ctx: KarpContext) => ctx.data,
  upper: (ctx: KarpContext) => {
    let text: string
    try {
      text = utf8Strict.decode(ctx.data)
    } catch {
      throw new Error('upper needs UTF-8 text')
    }
    return text.toUpperCase()
  },
  fail: () => {
    throw new Error('fail')
  },
}

/** Runs the CLI with `argv` (without node and the script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean', default: false },
        'no-reply': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (err) {
    return usageMistake(io, (err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.stdout.write(USAGE)
    return 0
  }
  try {
    const [command, ...rest] = positionals
    switch (command) {
      case 'serve':
        if (rest.length > 0) throw new UsageMistake(`serve takes no arguments, got ${rest.join(' ')}`)
        return await serve(io, values.host ?? DEFAULT_HOST, parseNumber('--port', values.port, DEFAULT_PORT, 0, 65_535))
      case 'request': {
        const [target, route, data] = rest
        if (target === undefined || route === undefined) throw new UsageMistake('request needs HOST:PORT and ROUTE')
        if (rest.length > 3) throw new UsageMistake(`unexpected argument ${rest[3]}`)
        const timeout = parseNumber('--timeout', values.timeout, DEFAULT_TIMEOUT, 1, 2_147_483_647)
        return await request(io, parseTarget(target), route, data ?? '', {
          timeout,
          json: values.json,
          noReply: values['no-reply'],
        })
      }
      case undefined:
        throw new UsageMistake('missing command')
      default:
        throw new UsageMistake(`unknown command ${command}`)
    }
  } catch (err) {
    if (err instanceof UsageMistake) return usageMistake(io, err.message)
    throw err
  }
}

function usageMistake(io: CliIo, message: string): number {
  io.stderr.write(`karp: ${message}\n${USAGE}`)
  return 2
}

function parseNumber(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  const n = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN
  if (!(n >= min && n <= max)) throw new UsageMistake(`${name} must be a whole number from ${min} to ${max}, got ${value}`)
  return n
}

function parseTarget(target: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]+)$/.exec(target)
  const host = match?.[1] ?? match?.[2]
  if (match === null || host === undefined) throw new UsageMistake(`expected HOST:PORT, got ${target}`)
  return { host, port: parseNumber('port', match[3], DEFAULT_PORT, 1, 65_535) }
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

async function serve(io: CliIo, host: string, port: number): Promise<number> {
  const server = createServer({ routes: demoRoutes })
  let bound
  try {
    bound = await server.listen({ host, port })
  } catch (err) {
    return localError(io, err, false)
  }
  io.stdout.write(`listening ${formatAddress(bound.host, bound.port)}\n`)
  await stopped(io.stop)
  await server.close({ signal: AbortSignal.timeout(CLOSE_GRACE_MS) })
  return 0
}

function stopped(stop: AbortSignal | undefined): Promise<void> {
  if (stop !== undefined) {
    return stop.aborted ? Promise.resolve() : new Promise((resolve) => stop.addEventListener('abort', () => resolve(), { once: true }))
  }
  return new Promise((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      resolve()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}

async function request(
  io: CliIo,
  target: { host: string; port: number },
  route: string,
  data: string,
  opts: { timeout: number; json: boolean; noReply: boolean },
): Promise<number> {
  let peer: KarpPeer | undefined
  try {
    peer = await connect({ ...target, timeout: opts.timeout, signal: AbortSignal.timeout(opts.timeout) })
    if (opts.noReply) {
      await peer.notify(route, data, { timeout: opts.timeout })
      return 0
    }
    const reply = await peer.request(route, data)
    io.stdout.write(opts.json ? `${JSON.stringify({ success: true, data: reply.text() })}\n` : `${reply.text()}\n`)
    return 0
  } catch (err) {
    if (isRemote(err)) {
      if (opts.json) io.stdout.write(`${JSON.stringify({ success: false, data: err.message })}\n`)
      io.stderr.write(`karp: ${err.message}\n`)
      return 1
    }
    return localError(io, err, opts.json)
  } finally {
    await peer?.close({ signal: AbortSignal.timeout(Math.min(opts.timeout, CLOSE_GRACE_MS)) })
  }
}

function isRemote(err: unknown): err is Error {
  return err instanceof Error && (err as { code?: unknown }).code === ErrorCode.REMOTE
}

function localError(io: CliIo, err: unknown, json: boolean): number {
  const error = err instanceof Error ? err : new Error(String(err))
  const code = (error as { code?: unknown }).code
  const name = typeof code === 'string' ? code : error.name
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : ''
  io.stderr.write(`karp: ${name}: ${error.message}${cause}\n`)
  if (json) io.stdout.write(`${JSON.stringify({ error: { code: name, message: error.message } })}\n`)
  return 2
}

function invokedDirectly(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}

if (invokedDirectly()) process.exitCode = await main(process.argv.slice(2))
