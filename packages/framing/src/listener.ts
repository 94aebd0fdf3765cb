// The listening socket of a server: admission, TLS, and the address, before a package builds its connection.
import net from 'node:net'
import tls from 'node:tls'
import type { ListenAddress, PathAddress, TcpAddress } from './address.ts'
import { checkOptions } from './check-options.ts'
import type { OptionNames } from './check-options.ts'
import { describeTarget } from './connect.ts'
import { DEFAULT_BACKLOG, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_PROXY_HEADER_TIMEOUT, SOCKET_HIGH_WATER_MARK } from './constants.ts'
import type { DiagnosticsChannels } from './diagnostics.ts'
import { ErrorCode, PROTO_ERRORS, UsageError, isProtoError } from './errors.ts'
import type { ListenError, PlumbingErrors, ProtoError, ProxyHeaderError } from './errors.ts'
import { checkLimit } from './options.ts'
import { peerInfo } from './peer-info.ts'
import type { PeerInfo } from './peer-info.ts'
import { readProxyHeader } from './proxy-header-reader.ts'
import type { ReadProxyHeaderOptions } from './proxy-header-reader.ts'
import { ProxyHeaderDecoder } from './proxy-protocol.ts'
import type { ProxyProtocolMode } from './proxy-protocol.ts'

/** Where and how a server listens; give host and port, or `path`. */
export interface ListenOptions {
  /** The address to bind, IPv4 or IPv6 (`::` for every address). @default the package's, usually '127.0.0.1' */
  host?: string | undefined
  /** 0 picks a free port. @default the package's port */
  port?: number | undefined
  /**
   * A unix socket to listen on instead of host and port. A file already there is not removed:
   * listening fails with the package's ListenError, a stale socket file included.
   * @default undefined
   */
  path?: string | undefined
  /** With `host` `::`, accept IPv6 only rather than IPv4 too. @default false */
  ipv6Only?: boolean | undefined
  /** Connections the kernel queues before they are accepted. @default 511 */
  backlog?: number | undefined
  /**
   * TLS on every connection: node:tls server options (`key`, `cert`, `ca`, `requestCert`, ...).
   * A connection is handed to the package only after its handshake.
   * @default undefined (no TLS)
   */
  tls?: tls.TlsOptions | undefined
  /**
   * Expect a PROXY protocol header (from a balancer) at the start of each connection, read before
   * anything else, TLS included: `'v1'`, `'v2'`, `'any'`, or `{ mode, maxBytes, timeout }` (4096
   * bytes and 10 000 ms by default). The client it names is the connection's `PeerInfo`; a
   * connection without a valid header is destroyed and reported as the package's
   * ProxyHeaderError. Turn it on only for a port nothing but the balancer can reach. With `tls`,
   * TCP only: the handshakes on a unix socket could not be told apart.
   * @default undefined (no header)
   */
  proxyProtocol?: ProxyProtocolMode | Omit<ReadProxyHeaderOptions, 'signal'> | undefined
  /** Aborting before `listen()` resolves closes the listener and rejects with `signal.reason`. @default undefined */
  signal?: AbortSignal | undefined
}

const PROXY_OPTION_NAMES = { proxyProtocol: { mode: true, maxBytes: true, timeout: true } } as const

/** Every name of `ListenOptions`, for a package's `checkOptions` list. */
export const LISTEN_OPTION_NAMES = {
  host: true,
  port: true,
  path: true,
  ipv6Only: true,
  backlog: true,
  tls: true,
  proxyProtocol: true,
  signal: true,
} as const satisfies OptionNames<ListenOptions>

/** What a package gives its listener. */
export interface ListenerInit<S = unknown> {
  /** The package's default host and port. @default { host: '127.0.0.1' } */
  defaults: { readonly host?: string | undefined; readonly port: number }
  /**
   * Connections open at once, TLS handshakes included. One more is destroyed at once, before any
   * other work, and reported to `onClientError` with the package's TooManyConnectionsError.
   * @default 1024
   */
  maxConnections?: number | undefined
  /** The classes the failures are made with, so that they carry the package's codes. @default framing's */
  errors?: PlumbingErrors | undefined
  /** Milliseconds a TLS handshake may take, from 1 to 2^31 − 1; a slower one is reported as TlsHandshakeError. @default 10_000 */
  handshakeTimeout?: number | undefined
  /** Keep writing after the peer's FIN, as `FramedConnection` expects. @default true */
  allowHalfOpen?: boolean | undefined
  /** Receives each admitted connection, after its TLS handshake; from then on it is the package's. */
  onConnection(socket: net.Socket, remote: PeerInfo): void
  /**
   * A connection refused at `maxConnections`, a failed or late TLS handshake, or a bad PROXY
   * header; the socket is already destroyed.
   */
  onClientError(err: ProtoError, remote: PeerInfo): void
  /** An accept failure while listening (EMFILE and the like), as the package's ListenError; the listener goes on. */
  onAcceptError(err: ListenError): void
  /** Where to publish `server:listening`, and the server object its message carries. @default undefined */
  diagnostics?: { readonly channels: DiagnosticsChannels<S>; readonly server: S } | undefined
}

/** A connection between accept and hand-over. */
interface Admission {
  readonly raw: net.Socket
  /** The peer, once a PROXY header has named it. */
  remote: PeerInfo
  /** The 4-tuple of a TCP connection, which its TLS socket shares; '' for a unix socket. */
  readonly key: string
  state: 'proxy' | 'handshake' | 'open' | 'reported'
  failure: ProtoError | undefined
}

type State = 'idle' | 'starting' | 'listening' | 'closed'

/**
 * The listening socket every server owns: it binds (TCP, IPv6 or a unix socket), admits
 * connections up to `maxConnections` before any per-connection work, runs the TLS handshake,
 * and hands each connection over with its `PeerInfo`. The connections then belong to the package:
 * `close()` stops accepting and leaves them open. A server's `[Symbol.asyncDispose]` is its own
 * `close()`, which calls this one and then closes its connections.
 */
export class Listener<S = unknown> {
  readonly #init: ListenerInit<S>
  readonly #errors: PlumbingErrors
  readonly #maxConnections: number
  readonly #handshakeTimeout: number
  #state: State = 'idle'
  #server: net.Server | undefined
  #engine: tls.Server | undefined
  #proxyProtocol: Omit<ReadProxyHeaderOptions, 'signal'> | undefined
  #address: ListenAddress | null = null
  #open = 0
  /** TLS handshakes under way on TCP, by the key their TLS socket can be found with. */
  readonly #handshakes = new Map<string, Admission>()
  /** Connections whose PROXY header is being read. */
  readonly #reading = new Set<net.Socket>()
  /** Ends a `listen()` under way, when `close()` comes first. */
  #stopStarting: (() => void) | undefined
  #closing: Promise<void> | undefined

  /** @throws {UsageError} for a bad limit */
  constructor(init: ListenerInit<S>) {
    this.#init = init
    this.#errors = init.errors ?? PROTO_ERRORS
    this.#maxConnections = checkLimit('maxConnections', init.maxConnections, DEFAULT_MAX_CONNECTIONS)
    this.#handshakeTimeout = checkLimit('handshakeTimeout', init.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT)
    // Node's socket timers take no longer delay.
    if (this.#handshakeTimeout > 2_147_483_647) {
      throw new UsageError(`handshakeTimeout must be at most 2147483647 ms, got ${this.#handshakeTimeout}`)
    }
  }

  /** Whether the listening socket is open. */
  get listening(): boolean {
    return this.#state === 'listening'
  }

  /** Connections admitted and not yet closed, those in their TLS handshake included. */
  get connections(): number {
    return this.#open
  }

  /** Where it listens: `{ host, port, family }` or `{ path }`; `null` before `listen()` resolves and after `close()`. */
  address(): ListenAddress | null {
    return this.#address
  }

  /**
   * Binds and starts accepting; resolves with the bound address (the real port when 0 was asked).
   * @throws {UsageError} for an unknown option or a bad value
   * @throws {ListenError} (the package's) naming the address, with the cause: a busy port, a bad
   *   or existing path, bad TLS options, a second `listen()`, or a listener already closed
   * @throws the signal's reason when it aborts first; the listener is then closed
   */
  listen(options?: ListenOptions & { readonly path?: undefined }): Promise<TcpAddress>
  listen(options: ListenOptions & { readonly path: string }): Promise<PathAddress>
  listen(options?: ListenOptions): Promise<ListenAddress>
  async listen(options: ListenOptions = {}): Promise<ListenAddress> {
    checkOptions(options, LISTEN_OPTION_NAMES, 'listen()')
    const plan = this.#plan(options)
    const signal = options.signal
    signal?.throwIfAborted()
    if (this.#state !== 'idle') {
      const why =
        this.#state === 'closed' ? 'the server is closed' : this.#state === 'starting' ? 'a listen() is under way' : `it already listens on ${this.#where()}`
      throw new this.#errors.Listen(plan.where, { cause: new UsageError(why) })
    }
    if (options.tls !== undefined) this.#engine = this.#makeEngine(options.tls, plan.where)
    this.#proxyProtocol = plan.proxyProtocol
    this.#state = 'starting'
    // A peer that sends FIN in the middle of its handshake has given up: the TLS socket is made
    // half-open only once it is handed over.
    const allowHalfOpen = this.#engine === undefined && (this.#init.allowHalfOpen ?? true)
    const server = net.createServer({ allowHalfOpen, highWaterMark: SOCKET_HIGH_WATER_MARK }, (socket) => this.#accept(socket))
    this.#server = server
    try {
      await new Promise<void>((resolve, reject) => {
        let settled = false
        const settle = (err?: unknown): void => {
          if (settled) return
          settled = true
          this.#stopStarting = undefined
          server.off('error', onError)
          signal?.removeEventListener('abort', onAbort)
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort reason is any value
          if (err !== undefined) reject(err)
          else resolve()
        }
        const onError = (err: Error): void => settle(new this.#errors.Listen(plan.where, { cause: err }))
        const onAbort = (): void => {
          settle(signal?.reason)
          void this.close()
        }
        this.#stopStarting = () => settle(new this.#errors.Listen(plan.where, { cause: new UsageError('the server was closed before it listened') }))
        server.once('error', onError)
        signal?.addEventListener('abort', onAbort, { once: true })
        try {
          server.listen(plan.listen, () => settle())
        } catch (err) {
          // A bad argument throws here rather than emitting 'error'.
          onError(err as Error)
        }
      })
    } catch (err) {
      if (this.#state === 'starting') {
        this.#state = 'idle'
        this.#server = undefined
        this.#engine = undefined
        this.#proxyProtocol = undefined
        server.close()
      }
      throw err
    }
    this.#state = 'listening'
    const address = readAddress(server)
    this.#address = address
    server.on('error', (err) => this.#init.onAcceptError(new this.#errors.Listen(this.#where(), { cause: err })))
    const diagnostics = this.#init.diagnostics
    if (diagnostics?.channels.serverListening.hasSubscribers === true) {
      diagnostics.channels.serverListening.publish({ side: 'server', server: diagnostics.server, address })
    }
    return address
  }

  /**
   * Stops accepting and closes the listening socket (a unix socket's file goes with it); resolves
   * once it is closed. Connections already handed over stay open; those still in their TLS
   * handshake are destroyed. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#state = 'closed'
    this.#address = null
    // The listening handle closes here and now; net.Server's own callback would wait for every
    // connection, which belong to the package.
    this.#server?.close()
    this.#stopStarting?.()
    // Handshakes on a unix socket cannot be told apart; each of them is destroyed as it ends.
    for (const admission of this.#handshakes.values()) admission.raw.destroy()
    for (const raw of this.#reading) raw.destroy()
    this.#closing = Promise.resolve()
    return this.#closing
  }

  #where(): string {
    const address = this.#address
    if (address === null) return 'an address not yet bound'
    return address.path ?? describeTarget(address)
  }

  #plan(options: ListenOptions): { where: string; listen: net.ListenOptions; proxyProtocol: Omit<ReadProxyHeaderOptions, 'signal'> | undefined } {
    const { host, port, path, ipv6Only } = options
    if (path !== undefined && (host !== undefined || port !== undefined)) {
      throw new UsageError('listen on host/port or on a path, not both')
    }
    if (ipv6Only !== undefined && typeof ipv6Only !== 'boolean') throw new UsageError('ipv6Only must be a boolean')
    const backlog = checkLimit('backlog', options.backlog, DEFAULT_BACKLOG)
    const tlsOptions: unknown = options.tls
    if (tlsOptions !== undefined && (typeof tlsOptions !== 'object' || tlsOptions === null)) {
      throw new UsageError('tls must be an object of node:tls server options')
    }
    const proxyProtocol = checkProxyProtocol(options.proxyProtocol)
    if (path !== undefined) {
      if (typeof path !== 'string' || path === '') throw new UsageError('path must be a non-empty string')
      if (proxyProtocol !== undefined && tlsOptions !== undefined) {
        throw new UsageError('proxyProtocol with tls needs TCP: the handshakes on a unix socket cannot be matched to their headers')
      }
      return { where: path, listen: { path, backlog }, proxyProtocol }
    }
    const chosenHost = host ?? this.#init.defaults.host ?? '127.0.0.1'
    const chosenPort = port ?? this.#init.defaults.port
    if (typeof chosenHost !== 'string' || chosenHost === '') throw new UsageError('host must be a non-empty string')
    if (!Number.isSafeInteger(chosenPort) || chosenPort < 0 || chosenPort > 65_535) {
      throw new UsageError(`port must be an integer from 0 to 65535, got ${String(chosenPort)}`)
    }
    return {
      where: describeTarget({ host: chosenHost, port: chosenPort }),
      listen: { host: chosenHost, port: chosenPort, backlog, ipv6Only: ipv6Only ?? false },
      proxyProtocol,
    }
  }

  /** A TLS server that never listens: it runs the handshakes of the connections this listener accepts. */
  #makeEngine(options: tls.TlsOptions, where: string): tls.Server {
    let engine: tls.Server
    try {
      engine = tls.createServer({ ...options, handshakeTimeout: this.#handshakeTimeout })
    } catch (err) {
      throw new this.#errors.Listen(where, { cause: err })
    }
    engine.on('secureConnection', (socket: tls.TLSSocket) => this.#secured(socket))
    engine.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => this.#handshakeFailed(err, socket))
    return engine
  }

  #accept(raw: net.Socket): void {
    if (this.#state !== 'listening') {
      raw.destroy()
      return
    }
    const remote = peerInfo(raw)
    if (this.#open >= this.#maxConnections) {
      raw.destroy()
      this.#init.onClientError(new this.#errors.TooManyConnections(this.#maxConnections), remote)
      return
    }
    this.#open++
    const proxyProtocol = this.#proxyProtocol
    if (this.#engine === undefined && proxyProtocol === undefined) {
      raw.once('close', () => this.#open--)
      this.#init.onConnection(raw, remote)
      return
    }
    const admission: Admission = { raw, remote, key: tupleOf(raw), state: 'proxy', failure: undefined }
    // The raw socket closes with its TLS socket, whatever became of the handshake.
    raw.once('close', () => this.#closed(admission))
    if (proxyProtocol === undefined) {
      this.#secure(admission)
      return
    }
    this.#reading.add(raw)
    readProxyHeader(raw, proxyProtocol).then(
      (result) => {
        this.#reading.delete(raw)
        admission.remote = result.remote
        if (this.#state === 'closed') raw.destroy()
        else this.#secure(admission)
      },
      (err: unknown) => {
        this.#reading.delete(raw)
        raw.destroy()
        if (this.#state === 'closed') return
        admission.state = 'reported'
        this.#init.onClientError(this.#proxyHeaderError(err), remote)
      },
    )
  }

  /** Runs the TLS handshake of an admitted connection, or hands it over when there is no TLS. */
  #secure(admission: Admission): void {
    const engine = this.#engine
    if (engine === undefined) {
      admission.state = 'open'
      this.#init.onConnection(admission.raw, admission.remote)
      return
    }
    admission.state = 'handshake'
    if (admission.key !== '') this.#handshakes.set(admission.key, admission)
    engine.emit('connection', admission.raw)
  }

  /** The package's ProxyHeaderError for a failure of `readProxyHeader`. */
  #proxyHeaderError(err: unknown): ProtoError {
    if (isProtoError(err) && err.code === ErrorCode.PROXY_HEADER) {
      const failure = err as ProxyHeaderError
      return new this.#errors.ProxyHeader(failure.reason, failure.message, { cause: failure })
    }
    return new this.#errors.ProxyHeader('invalid', 'the PROXY header could not be read', { cause: err })
  }

  #secured(socket: tls.TLSSocket): void {
    const key = tupleOf(socket)
    const admission = key === '' ? undefined : this.#handshakes.get(key)
    if (admission !== undefined) {
      this.#handshakes.delete(key)
      admission.state = 'open'
    }
    if (this.#state === 'closed') {
      socket.destroy()
      return
    }
    socket.allowHalfOpen = this.#init.allowHalfOpen ?? true
    // A unix socket peer has no address, so its TLS socket cannot be told from another; nor need it be.
    this.#init.onConnection(socket, admission?.remote ?? peerInfo(socket))
  }

  #handshakeFailed(err: Error, socket: tls.TLSSocket): void {
    const key = tupleOf(socket)
    socket.destroy()
    if (this.#state === 'closed') return
    const timedOut = (err as { code?: unknown }).code === 'ERR_TLS_HANDSHAKE_TIMEOUT'
    const failure = new this.#errors.TlsHandshake(
      timedOut ? `TLS handshake not done within ${this.#handshakeTimeout} ms` : `TLS handshake failed: ${err.message}`,
      { cause: err },
    )
    if (this.#address?.path === undefined) {
      // Reported when its raw socket closes, with the remote read at accept; a TLS socket already
      // closed has no key, and the raw socket's close reports it without this reason.
      const admission = this.#handshakes.get(key)
      if (admission !== undefined) admission.failure ??= failure
      return
    }
    this.#init.onClientError(failure, peerInfo(socket))
  }

  #closed(admission: Admission): void {
    this.#open--
    if (admission.key !== '') this.#handshakes.delete(admission.key)
    if (admission.state !== 'handshake' || admission.key === '' || this.#state === 'closed') return
    admission.state = 'reported'
    const failure =
      admission.failure ?? new this.#errors.TlsHandshake('TLS handshake failed: the peer closed the connection')
    this.#init.onClientError(failure, admission.remote)
  }
}

/** `proxyProtocol` as `readProxyHeader` options, checked now rather than at the first connection. */
function checkProxyProtocol(value: ListenOptions['proxyProtocol']): Omit<ReadProxyHeaderOptions, 'signal'> | undefined {
  if (value === undefined) return undefined
  const options = typeof value === 'string' ? { mode: value } : value
  checkOptions({ proxyProtocol: options }, PROXY_OPTION_NAMES, 'listen()')
  // The decoder checks mode and maxBytes.
  new ProxyHeaderDecoder(options)
  checkLimit('proxyProtocol.timeout', options.timeout, DEFAULT_PROXY_HEADER_TIMEOUT)
  return options
}

/** The four addresses of a TCP connection, unique while it is open; '' for any other stream. */
function tupleOf(socket: net.Socket): string {
  const { remoteAddress, remotePort, localAddress, localPort } = socket
  if (remoteAddress === undefined || remotePort === undefined) return ''
  return `${localAddress ?? ''}|${localPort ?? 0}|${remoteAddress}|${remotePort}`
}

function readAddress(server: net.Server): ListenAddress {
  const address = server.address()
  if (typeof address === 'string') return { path: address }
  if (address === null) throw new UsageError('the server has no address')
  return { host: address.address, port: address.port, family: address.family === 'IPv6' ? 'IPv6' : 'IPv4' }
}
