import { EventEmitter } from 'node:events'
import net from 'node:net'
import ssh2 from 'ssh2'
import type { Buffer } from 'node:buffer'
import type { Connection, ClientInfo } from 'ssh2'
import { checkLimit, UsageError } from '@proto/framing'
import { parseAuthorizedKeys } from './authorized-keys.ts'
import { isVerb } from './codec.ts'
import { DEFAULT_HOST, DEFAULT_LIMITS, DEFAULT_PORT, VERBS } from './constants.ts'
import type { KorvCompressionOptions, KorvLimits, KorvVerb } from './constants.ts'
import { checkCompression } from './deflate.ts'
import { KorvConnectError, KorvTooManyConnectionsError, KorvUnknownVerbError } from './errors.ts'
import type { KorvError } from './errors.ts'
import type { KorvContext, KorvHandler, PeerInfo } from './handler.ts'
import { readKeyInput } from './key-input.ts'
import { parsePrivateKey } from './keys.ts'
import type { KeyInput } from './key-input.ts'
import { ServerSession } from './session.ts'
import type { SessionHost } from './session.ts'

export interface KorvServerOptions {
  /** Host private keys, one per key type; `passphrase` for an encrypted one. Read by `listen()`. */
  hostKeys: (KeyInput | { key: KeyInput; passphrase?: string })[]
  /** An OpenSSH authorized_keys file: its text, bytes or `{ path }`. Read by `listen()`. */
  authorizedKeys: KeyInput
  /** Handlers by verb and exact resource. @default {} */
  routes?: Partial<Record<KorvVerb, Record<string, KorvHandler>>>
  /** Limits of spec §4. @default DEFAULT_LIMITS */
  limits?: Partial<KorvLimits>
  /** Send a failing handler's stack to the client as `traceback`. @default false */
  exposeErrors?: boolean
  /** How the replies sent are compressed. @default { level: 1, threshold: 4096 } */
  compression?: KorvCompressionOptions
  /**
   * Accept `ssh-rsa` user-auth signatures (RSA with SHA-1) from legacy clients. Off, an RSA key
   * must sign with `rsa-sha2-256` or `rsa-sha2-512`, as OpenSSH 8.8 and later require. @default false
   */
  insecureAllowRsaSha1?: boolean
}

export interface KorvServerEvents {
  clientError: [err: KorvError, peer: PeerInfo]
  handlerError: [err: unknown, ctx: KorvContext]
  authorizedKeysError: [err: KorvError]
  close: []
}

function checkLimits(limits: Partial<KorvLimits> | undefined): KorvLimits {
  const out = { ...DEFAULT_LIMITS }
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof KorvLimits)[]) {
    out[name] = checkLimit(name, limits?.[name], DEFAULT_LIMITS[name])
  }
  return out
}

/** A korv server: SSH public-key auth, `direct-tcpip` channels carrying gzip-JSON requests. */
export class KorvServer extends EventEmitter<KorvServerEvents> {
  readonly #options: KorvServerOptions
  readonly #limits: KorvLimits
  readonly #routes = new Map<KorvVerb, Map<string, KorvHandler>>()
  #net: net.Server | undefined
  #ssh: ssh2.Server | undefined
  // The narrow, mutable view sessions get of their server.
  readonly #host: { -readonly [K in keyof SessionHost]: SessionHost[K] }
  #sessions = new Set<ServerSession>()
  #handshaking = new Map<string, ServerSession>()
  #closed: Promise<void> | undefined
  #running = 0
  // Aborted by close()'s signal: what is still open is destroyed.
  readonly #forced = new AbortController()
  #idle: (() => void)[] = []

  constructor(options: KorvServerOptions) {
    super()
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
    for (const verb of VERBS) this.#routes.set(verb, new Map())
    for (const [verb, handlers] of Object.entries(options.routes ?? {})) {
      for (const [resource, handler] of Object.entries(handlers ?? {})) this.register(verb as KorvVerb, resource, handler)
    }
  }

  /** Adds the one handler for (verb, resource); a second one is `ERR_PROTO_USAGE`. */
  register(verb: KorvVerb, resource: string, handler: KorvHandler): this {
    if (!isVerb(verb)) throw new KorvUnknownVerbError(verb)
    if (typeof resource !== 'string') throw new UsageError('resource must be a string')
    if (typeof handler !== 'function') throw new UsageError('handler must be a function')
    const routes = this.#routes.get(verb) ?? new Map<string, KorvHandler>()
    if (routes.has(resource)) throw new UsageError(`${verb} ${resource} already has a handler`)
    routes.set(resource, handler)
    return this
  }

  /** Reads the host keys and authorized_keys, then listens. */
  async listen(opts: { host?: string; port?: number; signal?: AbortSignal } = {}): Promise<{ host: string; port: number }> {
    if (this.#net !== undefined || this.#host.closing) throw new UsageError('listen() was already called')
    const { host = DEFAULT_HOST, port = DEFAULT_PORT, signal } = opts
    signal?.throwIfAborted()
    const hostKeys: { key: Buffer | string; passphrase?: string }[] = []
    for (const [index, input] of this.#options.hostKeys.entries()) {
      const entry = typeof input === 'object' && !(input instanceof Uint8Array) && 'key' in input ? input : { key: input }
      const data = await readKeyInput(entry.key, `host key ${index}`)
      parsePrivateKey(data, entry.passphrase, `host key ${index}`)
      hostKeys.push({ key: data, ...(entry.passphrase === undefined ? {} : { passphrase: entry.passphrase }) })
    }
    const authorized = await readKeyInput(this.#options.authorizedKeys, 'authorized_keys')
    this.#host.authorizedKeys = parseAuthorizedKeys(authorized.toString(), (err) => this.emit('authorizedKeysError', err))
    signal?.throwIfAborted()

    const ssh = new ssh2.Server({ hostKeys, algorithms: { compress: ['none'] } }, (conn, info) => this.#onConnection(conn, info))
    const server = net.createServer((socket) => this.#onSocket(socket))
    this.#ssh = ssh
    this.#net = server
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        server.close()
        reject(signal?.reason as Error)
      }
      server.once('error', (err) => {
        signal?.removeEventListener('abort', onAbort)
        reject(new KorvConnectError(`cannot listen on ${host}:${port}: ${err.message}`, { cause: err }))
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      server.listen({ host, port }, () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      })
    })
    // Listening errors after this point are per-connection and reported there.
    server.on('error', () => {})
    const address = server.address() as net.AddressInfo
    return { host: address.address, port: address.port }
  }

  /**
   * Stops accepting, lets running handlers reply (new requests get `500 closing`), then
   * disconnects everyone. `signal` destroys what is still open.
   */
  close(opts: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = opts
    const force = (): void => this.#forced.abort()
    if (signal?.aborted) force()
    else signal?.addEventListener('abort', force, { once: true })
    this.#closed ??= this.#close()
    return this.#closed.finally(() => signal?.removeEventListener('abort', force))
  }

  async #close(): Promise<void> {
    this.#host.closing = true
    const forced = this.#forced.signal
    const onForce = (): void => {
      for (const session of this.#sessions) session.destroy()
    }
    if (forced.aborted) onForce()
    else forced.addEventListener('abort', onForce, { once: true })
    const server = this.#net
    const stopped = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()))
    for (const session of this.#sessions) if (!session.authenticated) session.end()
    if (this.#running > 0 && !forced.aborted) {
      await new Promise<void>((resolve) => {
        this.#idle.push(resolve)
        forced.addEventListener('abort', () => resolve(), { once: true })
      })
    }
    for (const session of this.#sessions) session.end()
    await stopped
    forced.removeEventListener('abort', onForce)
    this.emit('close')
  }

  #onSocket(socket: net.Socket): void {
    const peer: PeerInfo = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }
    socket.on('error', () => {})
    // Requests and replies are small and latency-bound: Nagle would hold each for an ACK.
    socket.setNoDelay(true)
    if (this.#host.closing) {
      socket.destroy()
      return
    }
    if (this.#sessions.size >= this.#limits.maxConnections) {
      this.emit('clientError', new KorvTooManyConnectionsError(`over maxConnections ${this.#limits.maxConnections}`), peer)
      socket.destroy()
      return
    }
    const session = new ServerSession(this.#host, socket, peer)
    const key = `${peer.address}|${peer.port}`
    this.#sessions.add(session)
    this.#handshaking.set(key, session)
    socket.once('close', () => {
      this.#sessions.delete(session)
      if (this.#handshaking.get(key) === session) this.#handshaking.delete(key)
    })
    this.#ssh?.injectSocket(socket)
  }

  #onConnection(conn: Connection, info: ClientInfo): void {
    // ssh2 announces a connection once the peer's version line is in; its address finds our socket.
    const key = `${info.ip}|${info.port}`
    const session = this.#handshaking.get(key)
    this.#handshaking.delete(key)
    if (session === undefined) {
      conn.on('error', () => {})
      conn.end()
      return
    }
    session.attach(conn)
  }

}

export function createServer(options: KorvServerOptions): KorvServer {
  return new KorvServer(options)
}
