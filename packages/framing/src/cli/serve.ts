// The server runner of every `serve` verb: listen, say where, report peers' faults, stop on a signal without waiting on idle peers.
import { isProtoError } from '../errors.ts'
import type { VerbContext } from './definition.ts'
import { codePrefix } from './definition.ts'
import { CliListenError } from './errors.ts'
import { describeError } from './report.ts'

/** Milliseconds `serve` lets open connections finish after the stop signal before cutting them. */
export const DEFAULT_CLOSE_GRACE = 2000

/** What the runner needs of a server: every package's server has it. */
export interface CliServer<L> {
  /** Resolves with where it listens: `{ host, port }`, `{ address, port }`, `{ path }` or a path. */
  listen(options: L): Promise<unknown>
  /** Stops accepting, lets connections finish, and destroys them when `signal` aborts. */
  close(options?: { signal?: AbortSignal }): Promise<void>
}

/** A server that reports faults as `clientError` and `handlerError` events, each with the peer or a context holding it. */
export interface CliServerEvents {
  /** Listens for the server's reports of faults. */
  on(event: 'clientError' | 'handlerError', listener: (err: never, peer: never) => void): unknown
}

/** Options of `serveUntilStopped`. */
export interface ServeUntilStoppedOptions<L> {
  /** What `server.listen()` is called with: a `listenTarget(values)`, plus anything else it takes. */
  listen: L
  /** Settles when the server stops by itself, such as on oneline's `shutdown` command. @default never */
  stopped?: PromiseLike<unknown> | undefined
  /** Milliseconds open connections get after the stop signal before they are cut. @default 2000 */
  closeGrace?: number | undefined
}

/**
 * Runs `server` for a `serve` verb. Listens, then prints exactly `listening <host>:<port>`
 * (`[v6]:port` for IPv6) or `listening <path>` as the first stdout line; prints each
 * `clientError` and `handlerError` on stderr, escaped, as `client <peer>: <message> (<code>)`;
 * on `ctx.signal` (the first SIGINT or SIGTERM) or `stopped`, closes the server, giving open
 * connections `closeGrace` ms or until `ctx.forceSignal` (the second signal) before they are
 * cut, so an idle peer never holds the process. A listen failure that is not a `@proto` error
 * rejects as `CliListenError` with code `<codePrefix>_LISTEN`.
 */
export async function serveUntilStopped<L>(ctx: VerbContext, server: CliServer<L>, options: ServeUntilStoppedOptions<L>): Promise<void> {
  if (isEventSource(server)) reportEvents(ctx, server)
  let address: unknown
  try {
    address = await server.listen(options.listen)
  } catch (err) {
    await server.close({ signal: AbortSignal.abort() }).catch(() => {})
    throw isProtoError(err) ? err : new CliListenError(`${codePrefix(ctx.cli)}_LISTEN`, describeTarget(options.listen), { cause: err })
  }
  await ctx.out.print(`listening ${describeAddress(address, options.listen)}`)
  await stopRequested(ctx.signal, options.stopped)
  const force = new AbortController()
  const cut = (): void => force.abort(ctx.forceSignal.reason)
  const grace = setTimeout(cut, options.closeGrace ?? DEFAULT_CLOSE_GRACE)
  ctx.forceSignal.addEventListener('abort', cut, { once: true })
  if (ctx.forceSignal.aborted) cut()
  try {
    await server.close({ signal: force.signal })
  } finally {
    clearTimeout(grace)
    ctx.forceSignal.removeEventListener('abort', cut)
  }
}

function stopRequested(signal: AbortSignal, stopped: PromiseLike<unknown> | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    signal.addEventListener('abort', () => resolve(), { once: true })
    stopped?.then(
      () => resolve(),
      () => resolve(),
    )
  })
}

function isEventSource(server: object): server is CliServerEvents {
  return typeof (server as { on?: unknown }).on === 'function'
}

function reportEvents(ctx: VerbContext, server: CliServerEvents): void {
  const report = (err: unknown, who: unknown): void => {
    for (const line of describeError(`client ${describePeer(who)}`, err)) ctx.out.warn(line)
  }
  server.on('clientError', report)
  server.on('handlerError', report)
}

/** `address:port` of a peer given as itself or inside a context (`remote`, `peer`). */
function describePeer(who: unknown): string {
  const peer = asAddress(who) ?? asAddress((who as { remote?: unknown } | null)?.remote) ?? asAddress((who as { peer?: unknown } | null)?.peer)
  return peer ?? 'unknown'
}

function asAddress(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const { address, port } = value as { address?: unknown; port?: unknown }
  if (typeof address !== 'string') return undefined
  return typeof port === 'number' ? hostPort(address, port) : address
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** What the listening line names: the address listen resolved with, else what it was asked for. */
function describeAddress(address: unknown, asked: unknown): string {
  if (typeof address === 'string') return address
  if (typeof address === 'object' && address !== null) {
    const { host, address: ip, port, path } = address as { host?: unknown; address?: unknown; port?: unknown; path?: unknown }
    if (typeof path === 'string') return path
    const name = typeof host === 'string' ? host : ip
    if (typeof name === 'string' && typeof port === 'number') return hostPort(name, port)
  }
  return describeTarget(asked)
}

function describeTarget(asked: unknown): string {
  const { host, port, path } = (asked ?? {}) as { host?: unknown; port?: unknown; path?: unknown }
  if (typeof path === 'string') return path
  return hostPort(typeof host === 'string' ? host : '', typeof port === 'number' ? port : 0)
}
