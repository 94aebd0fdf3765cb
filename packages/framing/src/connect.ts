// Opening a client connection: TCP, a unix socket or a given stream, with TLS over any of them.
import net from 'node:net'
import type { Duplex } from 'node:stream'
import tls from 'node:tls'
import type { OptionNames } from './check-options.ts'
import { DEFAULT_CONNECT_TIMEOUT, SOCKET_HIGH_WATER_MARK } from './constants.ts'
import { DeadlineScheduler, checkTimeout, guardCall } from './deadlines.ts'
import { PROTO_ERRORS, UsageError } from './errors.ts'
import type { PlumbingErrors } from './errors.ts'

/** Where and how a client connects; give host and port, or `path`, or `socket`. */
export interface ConnectOptions {
  /** A host name or an IP address (an IPv6 one without brackets). @default the package's, usually '127.0.0.1' */
  host?: string | undefined
  /** @default the package's port */
  port?: number | undefined
  /** A unix socket to connect to instead of host and port. @default undefined */
  path?: string | undefined
  /**
   * TLS over the connection: `true`, or node:tls connect options (`ca`, `cert`, `key`,
   * `servername`, ...). `servername` defaults to `host` when it is a name rather than an address.
   * @default undefined (no TLS)
   */
  tls?: boolean | tls.ConnectionOptions | undefined
  /**
   * An already connected stream (a tunnel, a proxy, a test pair) to use as it is, or to run TLS
   * over when `tls` is given; it belongs to the connection from then on.
   * @default undefined
   */
  socket?: Duplex | undefined
  /**
   * Milliseconds until the connection, TLS handshake included, must be up: an integer up to
   * 2^53 − 1, or `Infinity` for no limit. Then it fails with the package's `TimeoutError`.
   * @default 30_000
   */
  connectTimeout?: number | undefined
  /** Aborting before the connection is up rejects with `signal.reason`. @default undefined */
  signal?: AbortSignal | undefined
}

/** Every name of `ConnectOptions`, for a package's `checkOptions` list. */
export const CONNECT_OPTION_NAMES = {
  host: true,
  port: true,
  path: true,
  tls: true,
  socket: true,
  connectTimeout: true,
  signal: true,
} as const satisfies OptionNames<ConnectOptions>

/** What a package fixes for all its connects. */
export interface ConnectInit {
  /** The package's default host. @default '127.0.0.1' */
  host?: string | undefined
  /** The package's default port. */
  port: number
  /** The package's default `connectTimeout`. @default 30_000 */
  connectTimeout?: number | undefined
  /** The classes the failures are made with, so that they carry the package's codes. @default framing's */
  errors?: PlumbingErrors | undefined
  /** Keep writing after the peer's FIN, as `FramedConnection` expects. @default true */
  allowHalfOpen?: boolean | undefined
  /** Send small writes at once rather than after Nagle's delay; framing batches a tick's writes already. @default true */
  noDelay?: boolean | undefined
}

/** How a connect target reads in messages: `127.0.0.1:7755`, `[::1]:7755` or `/path/to.sock`. */
export function describeTarget(target: { readonly host: string; readonly port: number } | { readonly path: string }): string {
  if ('path' in target) return target.path
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`
}

// Connects have no owner to hold a scheduler; their deadlines share one timer.
const deadlines = new DeadlineScheduler()
// net.Socket hands its options to stream.Duplex, which takes highWaterMark; @types/node leaves it out.
const READ_AHEAD = { highWaterMark: SOCKET_HIGH_WATER_MARK }

/**
 * Opens a connection and resolves once it is up (for TLS, once the handshake is done): a
 * `net.Socket`, a `tls.TLSSocket`, or the given `socket` as it is. On failure the stream is
 * destroyed, the given one included.
 * @throws {UsageError} for options that do not make one target, or a bad value
 * @throws {ConnectError} (the package's) naming the target, with the net or TLS error as `cause`
 * @throws {TimeoutError} (the package's) `connect to <target>` after `connectTimeout`
 * @throws the signal's reason when it aborts first
 */
export function connectStream(options: ConnectOptions | undefined, init: ConnectInit): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    const plan = planConnect(options ?? {}, init)
    const errors = init.errors ?? PROTO_ERRORS
    const given = options?.socket
    let stream: Duplex | undefined
    let ready: string
    let failed = false
    const fail = (err: unknown): void => {
      failed = true
      stream?.destroy()
      given?.destroy()
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort reason is any value
      reject(err)
    }
    // Stays on a failed stream, so that a late error of its teardown has a listener.
    const onError = (err: Error): void => {
      if (failed) return
      guard.release()
      fail(new errors.Connect(plan.target, { cause: err }))
    }
    // Armed before anything opens: an aborted signal or a timeout of 0 leaves nothing to destroy.
    const guard = guardCall(deadlines, { signal: options?.signal, timeout: plan.timeout }, plan.timeout, fail, (timeout) => {
      return new errors.Timeout(`connect to ${plan.target}`, timeout)
    })
    const allowHalfOpen = init.allowHalfOpen ?? true
    const tlsOptions = options?.tls
    if (tlsOptions === undefined || tlsOptions === false) {
      if (given !== undefined) {
        guard.release()
        resolve(given)
        return
      }
      ready = 'connect'
      const target: net.NetConnectOpts = plan.path === undefined ? { host: plan.host, port: plan.port, allowHalfOpen } : { path: plan.path, allowHalfOpen }
      stream = net.connect(Object.assign(target, READ_AHEAD))
    } else {
      ready = 'secureConnect'
      const secure: tls.ConnectionOptions = { ...(tlsOptions === true ? {} : tlsOptions) }
      if (secure.servername === undefined && plan.host !== undefined && net.isIP(plan.host) === 0) secure.servername = plan.host
      if (given !== undefined) secure.socket = given
      else if (plan.path !== undefined) secure.path = plan.path
      else Object.assign(secure, { host: plan.host, port: plan.port, allowHalfOpen })
      stream = tls.connect(Object.assign({}, READ_AHEAD, secure))
    }
    const opened = stream
    opened.on('error', onError)
    opened.once(ready, () => {
      opened.off('error', onError)
      guard.release()
      if (init.noDelay ?? true) (opened as net.Socket).setNoDelay(true)
      resolve(opened)
    })
  })
}

interface ConnectPlan {
  readonly host: string | undefined
  readonly port: number
  readonly path: string | undefined
  readonly target: string
  readonly timeout: number
}

/** The checked target and deadline of a connect. */
function planConnect(options: ConnectOptions, init: ConnectInit): ConnectPlan {
  const { host, port, path, socket } = options
  const ways = [host !== undefined || port !== undefined ? 'host/port' : '', path === undefined ? '' : 'path', socket === undefined ? '' : 'socket']
  const chosen = ways.filter((way) => way !== '')
  if (chosen.length > 1) throw new UsageError(`connect to one of host/port, path or socket, not ${chosen.join(' and ')}`)
  if (path !== undefined && (typeof path !== 'string' || path === '')) throw new UsageError('path must be a non-empty string')
  if (socket !== undefined && (typeof socket !== 'object' || socket === null || typeof socket.write !== 'function')) {
    throw new UsageError('socket must be a connected Duplex stream')
  }
  const tlsOption: unknown = options.tls
  if (tlsOption !== undefined && typeof tlsOption !== 'boolean' && (typeof tlsOption !== 'object' || tlsOption === null)) {
    throw new UsageError('tls must be true or an object of node:tls connect options')
  }
  const timeout = checkTimeout('connectTimeout', options.connectTimeout, init.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT)
  if (path !== undefined) return { host: undefined, port: 0, path, target: path, timeout }
  if (socket !== undefined) return { host: undefined, port: 0, path: undefined, target: 'the given socket', timeout }
  const chosenHost = host ?? init.host ?? '127.0.0.1'
  const chosenPort = port ?? init.port
  if (typeof chosenHost !== 'string' || chosenHost === '') throw new UsageError('host must be a non-empty string')
  if (!Number.isSafeInteger(chosenPort) || chosenPort < 1 || chosenPort > 65_535) {
    throw new UsageError(`port must be an integer from 1 to 65535, got ${String(chosenPort)}`)
  }
  return { host: chosenHost, port: chosenPort, path: undefined, target: describeTarget({ host: chosenHost, port: chosenPort }), timeout }
}
