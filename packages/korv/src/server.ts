/** `createServer()`: a korv server, SSH public-key auth and `direct-tcpip` channels of gzip-JSON, on framing's Listener. */
import { EventEmitter } from 'node:events'
import ssh2 from 'ssh2'
import type { Buffer } from 'node:buffer'
import type { Socket } from 'node:net'
import type { Connection } from 'ssh2'
import { checkOptions, LISTEN_OPTION_NAMES, Listener, UsageError } from '@proto/framing'
import type { ListenAddress, ListenOptions, OptionNames, PeerInfo, ProtoError } from '@proto/framing'
import { parseAuthorizedKeys } from './authorized-keys.ts'
import { isVerb } from './codec.ts'
import { DEFAULT_HOST, DEFAULT_PORT, VERBS } from './constants.ts'
import type { KorvCompressionOptions, KorvLimits, KorvVerb } from './constants.ts'
import { checkCompression } from './deflate.ts'
import { channels } from './diagnostics.ts'
import { KORV_ERRORS, KorvUnknownVerbError } from './errors.ts'
import type { KorvError, KorvListenError } from './errors.ts'
import { readKeyInput } from './key-input.ts'
import type { KeyInput } from './key-input.ts'
import { parsePrivateKey } from './keys.ts'
import { checkLimits, LIMIT_NAMES } from './limits.ts'
import { ServerSession } from './session.ts'
import type { SessionHost } from './session.ts'
import type { KorvConnection, KorvContext, KorvHandler } from './types.ts'

/** Handlers by verb, then exact resource: `{ GET: { '/hello': fn } }`. */
export type KorvHandlers = Partial<Record<KorvVerb, Record<string, KorvHandler>>>

/** What `createServer()` takes: the keys, the handlers and the limits of a korv server. */
export interface KorvServerOptions {
  /** Host private keys, one per key type; `passphrase` for an encrypted one. Read by `listen()`. */
  hostKeys: (KeyInput | { key: KeyInput; passphrase?: string })[]
  /** An OpenSSH authorized_keys file: its text, bytes or `{ path }`. Read by `listen()`. */
  authorizedKeys: KeyInput
  /** Handlers by verb and exact resource, as `server.handle()` adds them. @default {} */
  handlers?: KorvHandlers | undefined
  /** Limits on peers (spec §4). @default DEFAULT_LIMITS */
  limits?: Partial<KorvLimits> | undefined
  /** Send a failing handler's stack to the client as `traceback` (development only). @default false */
  exposeErrors?: boolean | undefined
  /** How the replies sent are compressed. @default { level: 1, threshold: 4096 } */
  compression?: KorvCompressionOptions | undefined
  /**
   * Accept `ssh-rsa` user-auth signatures (RSA with SHA-1) from legacy clients. Off, an RSA key
   * must sign with `rsa-sha2-256` or `rsa-sha2-512`, as OpenSSH 8.8 and later require. @default false
   */
  insecureAllowRsaSha1?: boolean | undefined
}

const SERVER_OPTION_NAMES = {
  hostKeys: true,
  authorizedKeys: true,
  handlers: true,
  limits: LIMIT_NAMES,
  exposeErrors: true,
  compression: { level: true, threshold: true },
  insecureAllowRsaSha1: true,
} as const satisfies OptionNames<KorvServerOptions>

/** A `clientError`'s peer: the connection once one exists, else the `PeerInfo` of a peer refused at admission. */
export type KorvPeer = KorvConnection | PeerInfo

/** The events a `KorvServer` emits, each with its listener's arguments. */
export interface KorvServerEvents {
  /**
   * A connection was admitted (after the PROXY header), before its SSH login; the
   * `proto:korv:connection:open` diagnostics message waits for the login.
   */
  connection: [connection: KorvConnection]
  /**
   * A peer was refused or dropped: past a limit, a failed authentication or connection, a bad
   * PROXY header. `peer` is a `PeerInfo` for one refused before admission.
   */
  clientError: [err: KorvError | ProtoError, peer: KorvPeer]
  /** A handler threw or returned something unusable (the peer got a 500). */
  handlerError: [err: unknown, ctx: KorvContext]
  /** An authorized_keys line was skipped (`KorvBadKeyLineError`, with `line`). */
  authorizedKeysError: [err: KorvError]
  /** Accepting failed while listening (EMFILE...); the server keeps listening. */
  acceptError: [err: KorvListenError]
  /** The server has closed. */
  close: []
}

/** A korv server: make one with `createServer()`. */
export interface KorvServer extends EventEmitter<KorvServerEvents>, AsyncDisposable {
  /** Adds the one handler for (verb, resource); a second one is `ERR_PROTO_USAGE`. */
  handle(verb: KorvVerb, resource: string, handler: KorvHandler): this
  /**
   * Reads the host keys and authorized_keys, then listens (framing's `ListenOptions`; korv has no
   * `tls`: SSH encrypts). Resolves to what `address()` returns.
   * @throws {KorvListenError} naming the address, with the cause
   */
  listen(options?: ListenOptions): Promise<ListenAddress>
  /** `{ host, port, family }` or `{ path }` while listening, else `null`. */
  address(): ListenAddress | null
  /** Whether the server is listening. */
  readonly listening: boolean
  /** The SSH connections open now. */
  readonly connections: ReadonlySet<KorvConnection>
  /**
   * Stops accepting, lets running handlers reply (new requests get `500 closing`), then
   * disconnects everyone. `signal` destroys what is still open.
   */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void>
}

/** The `_sock` ssh2 keeps on a server-side connection: the socket we injected. */
const socketOf = (conn: Connection): unknown => (conn as unknown as { _sock?: unknown })._sock

class Server extends EventEmitter<KorvServerEvents> implements KorvServer {
  readonly #options: KorvServerOptions
  readonly #limits: KorvLimits
  readonly #routes = new Map<KorvVerb, Map<string, KorvHandler>>()
  readonly #listener: Listener<KorvServer>
  #ssh: ssh2.Server | undefined
  // The narrow, mutable view sessions get of their server.
  readonly #host: { -readonly [K in keyof SessionHost]: SessionHost[K] }
  readonly #sessions = new Set<ServerSession>()
  readonly #bySocket = new Map<unknown, ServerSession>()
  #started = false
  #closed: Promise<void> | undefined
  #running = 0
  // Aborted by close()'s signal: what is still open is destroyed.
  readonly #forced = new AbortController()
  #idle: (() => void)[] = []
  // Called when the last connection is gone, while close() waits for it.
  #emptied: (() => void) | undefined

  constructor(options: KorvServerOptions) {
    super()
    checkOptions(options, SERVER_OPTION_NAMES, 'createServer()')
    if (!Array.isArray(options.hostKeys) || options.hostKeys.length === 0) {
      throw new UsageError('hostKeys needs at least one host private key')
    }
    if ((options.authorizedKeys as KeyInput | undefined) === undefined) throw new UsageError('authorizedKeys is required')
    if (!['undefined', 'boolean'].includes(typeof options.insecureAllowRsaSha1)) throw new UsageError('insecureAllowRsaSha1 must be a boolean')
    this.#options = options
    this.#limits = checkLimits(options.limits)
    this.#host = {
      limits: this.#limits,
      encoding: { maxMessageBytes: this.#limits.maxMessageBytes, compression: checkCompression(options.compression) },
      exposeErrors: options.exposeErrors ?? false,
      closing: false,
      authorizedKeys: [],
      insecureAllowRsaSha1: options.insecureAllowRsaSha1 === true,
      route: (verb, resource) => this.#routes.get(verb)?.get(resource),
      clientError: (err, peer) => this.emit('clientError', err, peer),
      handlerError: (err, ctx) => this.emit('handlerError', err, ctx),
      handlerStarted: () => {
        this.#running++
      },
      handlerSettled: () => {
        if (--this.#running === 0) for (const resolve of this.#idle.splice(0)) resolve()
      },
    }
    this.#listener = new Listener<KorvServer>({
      defaults: { host: DEFAULT_HOST, port: DEFAULT_PORT },
      maxConnections: this.#limits.maxConnections,
      errors: KORV_ERRORS,
      // ssh2 ends its side when the peer's does.
      allowHalfOpen: false,
      onConnection: (socket, remote) => this.#onSocket(socket, remote),
      onClientError: (err, remote) => this.emit('clientError', err, remote),
      onAcceptError: (err) => this.emit('acceptError', err as KorvListenError),
      diagnostics: { channels, server: this },
    })
    for (const verb of VERBS) this.#routes.set(verb, new Map())
    for (const [verb, handlers] of Object.entries(options.handlers ?? {})) {
      for (const [resource, handler] of Object.entries(handlers ?? {})) this.handle(verb as KorvVerb, resource, handler)
    }
  }

  get listening(): boolean {
    return this.#listener.listening
  }

  get connections(): ReadonlySet<KorvConnection> {
    return this.#sessions
  }

  address(): ListenAddress | null {
    return this.#listener.address()
  }

  handle(verb: KorvVerb, resource: string, handler: KorvHandler): this {
    if (!isVerb(verb)) throw new KorvUnknownVerbError(verb)
    if (typeof resource !== 'string') throw new UsageError('resource must be a string')
    if (typeof handler !== 'function') throw new UsageError('handler must be a function')
    const routes = this.#routes.get(verb) ?? new Map<string, KorvHandler>()
    if (routes.has(resource)) throw new UsageError(`${verb} ${resource} already has a handler`)
    routes.set(resource, handler)
    return this
  }

  async listen(options: ListenOptions = {}): Promise<ListenAddress> {
    checkOptions(options, LISTEN_OPTION_NAMES, 'listen()')
    if (options.tls !== undefined) throw new UsageError('korv has no tls option: SSH encrypts every connection')
    if (this.#started || this.#host.closing) throw new UsageError('listen() was already called')
    this.#started = true
    options.signal?.throwIfAborted()
    const hostKeys: { key: Buffer | string; passphrase?: string }[] = []
    for (const [index, input] of this.#options.hostKeys.entries()) {
      const entry = typeof input === 'object' && !(input instanceof Uint8Array) && 'key' in input ? input : { key: input }
      const data = await readKeyInput(entry.key, `host key ${index}`)
      parsePrivateKey(data, entry.passphrase, `host key ${index}`)
      hostKeys.push({ key: data, ...(entry.passphrase === undefined ? {} : { passphrase: entry.passphrase }) })
    }
    const authorized = await readKeyInput(this.#options.authorizedKeys, 'authorized_keys')
    this.#host.authorizedKeys = parseAuthorizedKeys(authorized.toString(), (err) => this.emit('authorizedKeysError', err))
    this.#ssh = new ssh2.Server({ hostKeys, algorithms: { compress: ['none'] } }, (conn) => this.#onConnection(conn))
    return this.#listener.listen(options)
  }

  close(opts: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const { signal } = opts
    const force = (): void => this.#forced.abort()
    if (signal?.aborted) force()
    else signal?.addEventListener('abort', force, { once: true })
    this.#closed ??= this.#close()
    return this.#closed.finally(() => signal?.removeEventListener('abort', force))
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  async #close(): Promise<void> {
    this.#host.closing = true
    const forced = this.#forced.signal
    const onForce = (): void => {
      for (const session of this.#sessions) session.destroy()
    }
    if (forced.aborted) onForce()
    else forced.addEventListener('abort', onForce, { once: true })
    const stopped = this.#listener.close()
    for (const session of this.#sessions) if (!session.authenticated) session.end()
    if (this.#running > 0 && !forced.aborted) {
      await new Promise<void>((resolve) => {
        this.#idle.push(resolve)
        forced.addEventListener('abort', () => resolve(), { once: true })
      })
    }
    for (const session of this.#sessions) session.end()
    await stopped
    if (this.#sessions.size > 0) await new Promise<void>((resolve) => (this.#emptied = resolve))
    forced.removeEventListener('abort', onForce)
    this.emit('close')
  }

  #onSocket(socket: Socket, remote: PeerInfo): void {
    socket.on('error', () => {})
    // Requests and replies are small and latency-bound: Nagle would hold each for an ACK.
    socket.setNoDelay(true)
    if (this.#host.closing) {
      socket.destroy()
      return
    }
    const session = new ServerSession(this.#host, socket, remote)
    this.#sessions.add(session)
    this.#bySocket.set(socket, session)
    socket.once('close', () => {
      this.#sessions.delete(session)
      this.#bySocket.delete(socket)
      if (this.#sessions.size === 0) this.#emptied?.()
    })
    this.emit('connection', session)
    this.#ssh?.injectSocket(socket)
  }

  #onConnection(conn: Connection): void {
    // ssh2 announces a connection once the peer's version line is in.
    const session = this.#bySocket.get(socketOf(conn))
    if (session === undefined) {
      conn.on('error', () => {})
      conn.end()
      return
    }
    session.attach(conn)
  }
}

/**
 * A korv server. Call `listen()` to start it.
 * @throws {UsageError} for an unknown option, a bad limit or a missing key
 */
export function createServer(options: KorvServerOptions): KorvServer {
  return new Server(options)
}
