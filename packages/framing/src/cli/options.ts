// The options every bin declares alike, client and serve, and what their values become for a library call.
import { readFile } from 'node:fs/promises'
import type { PositionalDefinition } from './definition.ts'
import { CliReadError, CliUsageError } from './errors.ts'

/** The default `--host` of `serve`. */
export const DEFAULT_CLI_HOST = '127.0.0.1'

/** `--json`: machine-readable output; errors also as `{"error":{"code","message"}}` on stdout. */
export const jsonOption = {
  type: 'boolean',
  description: 'print JSON lines, an error too (on stdout, beside stderr)',
} as const

/** `--timeout MS`: the deadline of each call, 1 ms or more. */
export function timeoutOption<const D extends number>(defaultMs: D) {
  return { type: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER, default: defaultMs, placeholder: 'MS', description: 'milliseconds to wait for each reply' } as const
}

/** `--connect-timeout MS`: the deadline of connecting, 1 ms or more. */
export function connectTimeoutOption<const D extends number>(defaultMs: D) {
  return { type: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER, default: defaultMs, placeholder: 'MS', description: 'milliseconds to wait for the connection' } as const
}

/** `--tls`: connect with TLS. */
export const tlsOption = { type: 'boolean', description: 'connect with TLS, checking the server certificate' } as const

/** `--ca PATH`: the CA certificates (PEM) a TLS client trusts; implies `--tls`. */
export const caOption = { type: 'path', description: 'trust the CA certificates in this PEM file (implies --tls)' } as const

/** `--socket PATH` of a client verb: a unix socket instead of `HOST:PORT`. */
export const clientSocketOption = { type: 'path', description: 'connect to this unix socket instead of HOST:PORT' } as const

/** `--host H` of `serve`. */
export function hostOption<const D extends string>(defaultHost: D) {
  return { type: 'string', default: defaultHost, placeholder: 'H', description: 'address to listen on' } as const
}

/** `--port N` of `serve`: 0 to 65 535, 0 picking a free port. */
export function portOption<const D extends number>(defaultPort: D) {
  return { type: 'integer', min: 0, max: 65_535, default: defaultPort, description: 'port to listen on, 0 for a free one' } as const
}

/** `--socket PATH` of `serve`: a unix socket instead of a TCP port. */
export const serveSocketOption = { type: 'path', description: 'listen on this unix socket instead of a TCP port' } as const

/** `--tls-cert PATH` of `serve`; needs `--tls-key`. */
export const tlsCertOption = { type: 'path', description: 'serve TLS with this certificate chain (PEM); needs --tls-key' } as const

/** `--tls-key PATH` of `serve`; needs `--tls-cert`. */
export const tlsKeyOption = { type: 'path', description: 'the private key (PEM) of --tls-cert' } as const

/** `--idle-timeout MS` of `serve`: 0 is off. */
export function idleTimeoutOption<const D extends number>(defaultMs: D) {
  return { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, default: defaultMs, placeholder: 'MS', description: 'close a connection silent this many milliseconds, 0 for never' } as const
}

/** `--max-connections N` of `serve`. */
export function maxConnectionsOption<const D extends number>(defaultCount: D) {
  return { type: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER, default: defaultCount, description: 'connections open at once; more are refused' } as const
}

/** `--proxy-protocol v1|v2|any` of `serve`: expect a PROXY protocol header first. */
export const proxyProtocolOption = {
  type: 'enum',
  choices: ['v1', 'v2', 'any'],
  description: 'expect a PROXY protocol header on every connection',
} as const

/** Defaults of the client options that have one. */
export interface ClientOptionDefaults {
  /** The package's per-call timeout. */
  timeout: number
  /** The package's connect timeout. */
  connectTimeout: number
}

/** Every client option: `--timeout`, `--connect-timeout`, `--json`, `--tls`, `--ca`, `--socket`. */
export function clientOptions<const D extends ClientOptionDefaults>(defaults: D) {
  return {
    timeout: timeoutOption(defaults.timeout),
    'connect-timeout': connectTimeoutOption(defaults.connectTimeout),
    json: jsonOption,
    tls: tlsOption,
    ca: caOption,
    socket: clientSocketOption,
  } as const
}

/** Defaults of the serve options that have one. */
export interface ServeOptionDefaults {
  /** The protocol's usual port. */
  port: number
  /** The package's idle timeout, ms. */
  idleTimeout: number
  /** The package's connection limit. */
  maxConnections: number
}

/**
 * Every serve option: `--host`, `--port`, `--socket`, `--tls-cert`, `--tls-key`, `--idle-timeout`,
 * `--max-connections`, `--proxy-protocol`. A package adds its size limits beside them.
 */
export function serveOptions<const D extends ServeOptionDefaults>(defaults: D) {
  return {
    host: hostOption(DEFAULT_CLI_HOST),
    port: portOption(defaults.port),
    socket: serveSocketOption,
    'tls-cert': tlsCertOption,
    'tls-key': tlsKeyOption,
    'idle-timeout': idleTimeoutOption(defaults.idleTimeout),
    'max-connections': maxConnectionsOption(defaults.maxConnections),
    'proxy-protocol': proxyProtocolOption,
  } as const
}

/** The `HOST:PORT` positional of client verbs; `--socket` stands in for it when declared. */
export function targetPositional<const S extends string | undefined = undefined>(absentWith?: S) {
  return {
    name: 'target',
    label: 'HOST:PORT',
    description: 'the server; [ADDRESS]:PORT for an IPv6 address',
    required: true,
    ...(absentWith === undefined ? {} : { absentWith }),
  } as const satisfies PositionalDefinition
}

/**
 * `HOST:PORT` (`[v6]:PORT` for IPv6) as `{ host, port }`, port 1 to 65 535.
 * @throws {CliUsageError} for anything else
 */
export function parseHostPort(text: string, label = 'HOST:PORT'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text)
  const host = match?.[1] ?? match?.[2]
  const port = Number(match?.[3])
  if (host === undefined) throw new CliUsageError(`${label} expected, got ${text === '' ? '""' : text}`)
  if (!(port >= 1 && port <= 65_535)) throw new CliUsageError(`the port of ${text} is out of range (1 to 65535)`)
  return { host, port }
}

/** Where `serve` listens: `{ path }` with `--socket`, else `{ host, port }`. */
export function listenTarget(values: { host: string; port: number; socket?: string | undefined }): { host: string; port: number } | { path: string } {
  return values.socket === undefined ? { host: values.host, port: values.port } : { path: values.socket }
}

/** Where a client verb connects: `{ path }` with `--socket`, else the `HOST:PORT` positional. */
export function connectTarget(target: string | undefined, values: { socket?: string | undefined }): { host: string; port: number } | { path: string } {
  if (values.socket !== undefined) return { path: values.socket }
  if (target === undefined) throw new CliUsageError('missing HOST:PORT')
  return parseHostPort(target)
}

/**
 * The TLS options of `serve` from `--tls-cert` and `--tls-key` (both or neither), the files read:
 * `undefined` without them.
 * @throws {CliUsageError} when only one is given
 * @throws {CliReadError} when a file cannot be read
 */
export async function serverTls(values: { 'tls-cert'?: string | undefined; 'tls-key'?: string | undefined }): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  const cert = values['tls-cert']
  const key = values['tls-key']
  if (cert === undefined && key === undefined) return undefined
  if (cert === undefined || key === undefined) throw new CliUsageError('--tls-cert and --tls-key go together')
  const [certPem, keyPem] = await Promise.all([readArgumentFile(cert), readArgumentFile(key)])
  return { cert: certPem, key: keyPem }
}

/**
 * The TLS options of a client verb: `{}` with `--tls`, `{ ca }` with `--ca` (which implies it),
 * `undefined` for plain TCP.
 * @throws {CliReadError} when the CA file cannot be read
 */
export async function clientTls(values: { tls?: boolean | undefined; ca?: string | undefined }): Promise<{ ca?: Buffer } | undefined> {
  if (values.ca !== undefined) return { ca: await readArgumentFile(values.ca) }
  return values.tls === true ? {} : undefined
}

/**
 * The bytes of a file named on the command line.
 * @throws {CliReadError} naming the file, with the system error as `cause`
 */
export async function readArgumentFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new CliReadError(`cannot read ${path}`, { cause: err })
  }
}
