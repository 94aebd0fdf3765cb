#!/usr/bin/env node
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connect } from './client.ts'
import { decodeJson, encodeJson, isVerb } from './codec.ts'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { createDemoHandlers } from './demo.ts'
import { createServer } from './server.ts'

const USAGE = `usage:
  korv serve [--host H] [--port 8022] --host-key PATH... --authorized-keys PATH [--expose-errors] [--timeout MS]
  korv request HOST:PORT VERB RESOURCE [JSON_BODY] --key PATH (--known-hosts PATH | --insecure-accept-any-host-key)
               [--user NAME] [--timeout MS] [--json]

serve prints "listening <host>:<port>", then answers GET /hello, GET /echo and GET/STORE/UPDATE/DELETE /items
until SIGINT or SIGTERM. request prints {"code":N,"body":...}. A key passphrase comes from KORV_PASSPHRASE.
Exit codes: 0 ok, 1 the server answered 400 or more, 2 a local, connection or protocol error.
`

class UsageMistake extends Error {}

export interface Io {
  stdout: (text: string) => void
  stderr: (text: string) => void
}

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  'host-key': { type: 'string', multiple: true },
  'authorized-keys': { type: 'string' },
  'expose-errors': { type: 'boolean' },
  key: { type: 'string' },
  'known-hosts': { type: 'string' },
  'insecure-accept-any-host-key': { type: 'boolean' },
  user: { type: 'string' },
} as const

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < min || value > max) throw new UsageMistake(`--${name} must be an integer from ${min} to ${max}`)
  return value
}

function hostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text)
  const host = m?.[1] ?? m?.[2]
  const port = Number(m?.[3])
  if (host === undefined || !(port >= 1 && port <= 65_535)) throw new UsageMistake(`${text} is not HOST:PORT`)
  return { host, port }
}

function errorOf(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown; name?: unknown } | null
  const code = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'ERR_UNKNOWN'
  return { code, message: typeof e?.message === 'string' ? e.message : String(err) }
}

async function serve(values: ParsedValues, io: Io): Promise<number> {
  const hostKeys = values['host-key'] ?? []
  const authorizedKeys = values['authorized-keys']
  if (hostKeys.length === 0 || authorizedKeys === undefined) {
    throw new UsageMistake('serve needs --host-key and --authorized-keys')
  }
  const passphrase = process.env.KORV_PASSPHRASE
  const handshakeTimeout = integer('timeout', values.timeout, 1, 2 ** 31 - 1)
  const server = createServer({
    hostKeys: hostKeys.map((path) => ({ key: { path }, ...(passphrase === undefined ? {} : { passphrase }) })),
    authorizedKeys: { path: authorizedKeys },
    handlers: createDemoHandlers(),
    exposeErrors: values['expose-errors'] === true,
    ...(handshakeTimeout === undefined ? {} : { limits: { handshakeTimeout } }),
  })
  server.on('clientError', (err, peer) => io.stderr(`client ${peer.address}:${peer.port}: ${err.code} ${err.message}\n`))
  server.on('handlerError', (err) => io.stderr(`handler failed: ${errorOf(err).message}\n`))
  server.on('authorizedKeysError', (err) => io.stderr(`${authorizedKeys}: ${err.message}\n`))
  const { host, port } = await server.listen({
    host: values.host ?? DEFAULT_HOST,
    port: integer('port', values.port, 0, 65_535) ?? DEFAULT_PORT,
  })
  io.stdout(`listening ${host}:${port}\n`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await server.close()
  return 0
}

async function request(values: ParsedValues, positionals: string[], io: Io): Promise<number> {
  const [target, verb, resource, bodyText, ...extra] = positionals
  if (target === undefined || verb === undefined || resource === undefined || extra.length > 0) {
    throw new UsageMistake('request needs HOST:PORT VERB RESOURCE [JSON_BODY]')
  }
  if (!isVerb(verb)) throw new UsageMistake(`VERB must be GET, STORE, UPDATE or DELETE, not ${verb}`)
  const key = values.key
  if (key === undefined) throw new UsageMistake('request needs --key')
  const knownHosts = values['known-hosts']
  const insecure = values['insecure-accept-any-host-key'] === true
  if ((knownHosts === undefined) === !insecure) {
    throw new UsageMistake('request needs exactly one of --known-hosts and --insecure-accept-any-host-key')
  }
  const { host, port } = hostPort(target)
  const timeout = integer('timeout', values.timeout, 1, 2 ** 31 - 1)
  let body: unknown = null
  if (bodyText !== undefined) {
    try {
      body = decodeJson(bodyText)
    } catch {
      throw new UsageMistake('JSON_BODY is not JSON')
    }
  }
  const passphrase = process.env.KORV_PASSPHRASE
  const client = await connect({
    host,
    port,
    privateKey: { path: key },
    ...(passphrase === undefined ? {} : { passphrase }),
    ...(insecure ? { insecureAcceptAnyHostKey: true } : { knownHosts: { path: knownHosts ?? '' } }),
    ...(values.user === undefined ? {} : { username: values.user }),
    ...(timeout === undefined ? {} : { timeout, handshakeTimeout: timeout }),
  })
  try {
    const reply = await client.request(verb, resource, body)
    io.stdout(`${encodeJson({ code: reply.code, body: reply.body })}\n`)
    return reply.code < 400 ? 0 : 1
  } finally {
    await client.close()
  }
}

type ParsedValues = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values']

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    io.stderr(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    io.stdout(USAGE)
    return 0
  }
  const [command, ...rest] = positionals
  try {
    if (command === 'serve' && rest.length === 0) return await serve(values, io)
    if (command === 'request') return await request(values, rest, io)
    throw new UsageMistake(command === undefined ? 'no command given' : `unknown command ${command}`)
  } catch (err) {
    if (err instanceof UsageMistake) {
      io.stderr(`${err.message}\n${USAGE}`)
      return 2
    }
    const { code, message } = errorOf(err)
    io.stderr(`korv: ${code}: ${message}\n`)
    if (values.json === true) io.stdout(`${JSON.stringify({ error: { code, message } })}\n`)
    return 2
  }
}

const invoked = process.argv[1] === undefined ? undefined : realpathSync(process.argv[1])
if (invoked === fileURLToPath(import.meta.url)) {
  const io: Io = { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) }
  process.exitCode = await main(process.argv.slice(2), io)
}
