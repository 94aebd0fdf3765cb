/** One SSH connection on the server: authentication, its limits and its channels. */
import type { Socket } from 'node:net'
import type { AcceptConnection, AuthContext, Connection, RejectConnection, ServerChannel, TcpipRequestInfo } from 'ssh2'
import { admits, permitsOpen } from './authorized-keys.ts'
import type { AuthorizedKey } from './authorized-keys.ts'
import type { KorvLimits, KorvVerb } from './constants.ts'
import type { MessageEncoding } from './deflate.ts'
import { channels } from './diagnostics.ts'
import { ChannelDispatcher } from './dispatch.ts'
import type { DispatchHost } from './dispatch.ts'
import {
  KorvAuthFailedError,
  KorvChannelRefusedError,
  KorvClosedError,
  KorvHandshakeTimeoutError,
  KorvIdleTimeoutError,
  KorvTooManyChannelsError,
} from './errors.ts'
import type { KorvError } from './errors.ts'
import { escapeControl } from '@proto/framing'
import type { PeerInfo, ProtoError } from '@proto/framing'
import type { KorvConnection, KorvContext, KorvHandler } from './types.ts'
import { TickCork } from './tick-cork.ts'

// setTimeout fires at once past 2^31 - 1 ms: a longer limit is waited out in steps of this.
const MAX_TIMER_DELAY = 2_147_483_647

/** What a connection needs from its server. */
export interface SessionHost {
  readonly limits: KorvLimits
  readonly encoding: MessageEncoding
  readonly exposeErrors: boolean
  readonly closing: boolean
  readonly authorizedKeys: readonly AuthorizedKey[]
  /** Lets `ssh-rsa` (SHA-1) signatures in. */
  readonly insecureAllowRsaSha1?: boolean
  route(verb: KorvVerb, resource: string): KorvHandler | undefined
  clientError(err: KorvError | ProtoError, peer: KorvConnection | PeerInfo): void
  handlerError(err: unknown, ctx: KorvContext): void
  /** A handler started or settled anywhere on the server (close waits for all). */
  handlerStarted(): void
  handlerSettled(): void
}

/** One SSH connection on the server: authentication, limits and its channels. */
export class ServerSession implements DispatchHost, KorvConnection {
  readonly remote: PeerInfo
  readonly closed: Promise<void>
  #resolveClosed: () => void = () => {}
  readonly #server: SessionHost
  readonly #socket: Socket
  #conn: Connection | undefined
  #entry: AuthorizedKey | undefined
  #username = ''
  #authRequests = 0
  #authFailures = 0
  #reported = false
  // Whether connection:open went out, so that connection:close pairs with it.
  #announced = false
  // What ended the connection, for connection:close, when it did not end cleanly.
  #failure: KorvError | undefined
  #ended = false
  #channels = new Set<ChannelDispatcher>()
  #inFlight = 0
  #slotWaiters: ((ok: boolean) => void)[] = []
  #timer: NodeJS.Timeout | undefined
  #lastActivity = 0
  readonly #cork: TickCork

  constructor(server: SessionHost, socket: Socket, remote: PeerInfo) {
    this.#server = server
    this.#socket = socket
    this.#cork = new TickCork(socket)
    this.remote = remote
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve))
    this.#armHandshake(server.limits.handshakeTimeout)
    socket.once('close', () => this.#onClose())
  }

  get address(): string {
    return this.remote.address
  }
  get port(): number {
    return this.remote.port
  }
  get connection(): KorvConnection {
    return this
  }
  get limits(): KorvLimits {
    return this.#server.limits
  }
  get encoding(): MessageEncoding {
    return this.#server.encoding
  }
  get exposeErrors(): boolean {
    return this.#server.exposeErrors
  }
  get closing(): boolean {
    return this.#server.closing
  }
  get username(): string {
    return this.#username
  }
  get key(): KorvContext['key'] {
    return { type: this.#entry?.type ?? '', fingerprint: this.#entry?.fingerprint ?? '' }
  }
  get authenticated(): boolean {
    return this.#entry !== undefined
  }
  get inFlight(): number {
    return this.#inFlight
  }

  attach(conn: Connection): void {
    this.#conn = conn
    conn.on('error', (err: Error) => {
      // ssh2's messages quote the peer (a DISCONNECT's description, its version line): escaped for logs.
      this.fail(new KorvClosedError(`connection failed: ${escapeControl(err.message)}`, { cause: err }))
    })
    conn.on('authentication', (ctx) => this.#authenticate(ctx))
    conn.on('ready', () => this.#onReady())
    conn.on('tcpip', (accept, reject, info) => this.#openChannel(accept, reject, info))
    // Sessions (shell, exec, sftp), streamlocal, X11 and tcpip-forward have no listener: ssh2 refuses them.
    if (this.#ended) conn.end()
  }

  route(verb: KorvVerb, resource: string): KorvHandler | undefined {
    return this.#server.route(verb, resource)
  }

  acquire(): true | Promise<boolean> {
    if (this.#ended) return Promise.resolve(false)
    if (this.#inFlight < this.#server.limits.maxInFlight) {
      this.#take()
      return true
    }
    return new Promise((resolve) => this.#slotWaiters.push(resolve))
  }

  #take(): void {
    this.#inFlight++
    this.#server.handlerStarted()
  }

  release(): void {
    this.#inFlight--
    this.#server.handlerSettled()
    const next = this.#slotWaiters.shift()
    if (next !== undefined) {
      this.#take()
      next(true)
    }
  }

  queuedReplyBytes(): number {
    let bytes = this.#socket.writableLength
    for (const channel of this.#channels) bytes += channel.queuedReplyBytes
    return bytes
  }

  touch(): void {
    this.#lastActivity = Date.now()
  }

  holdWrites(): void {
    this.#cork.hold()
  }

  clientError(err: KorvError): void {
    this.#server.clientError(err, this)
  }

  handlerError(err: unknown, ctx: KorvContext): void {
    this.#server.handlerError(err, ctx)
  }

  /** Reports `err` once and ends the connection. */
  fail(err: KorvError): void {
    if (!this.#reported && !this.#ended) {
      this.#reported = true
      this.#failure = err
      this.#server.clientError(err, this)
    }
    this.end()
  }

  /** Disconnects politely (SSH_MSG_DISCONNECT, then FIN). */
  end(): void {
    if (this.#ended) return
    this.#ended = true
    clearTimeout(this.#timer)
    if (this.#conn !== undefined) this.#conn.end()
    else this.#socket.destroy()
  }

  destroy(): void {
    this.#ended = true
    this.#socket.destroy()
  }

  #authenticate(ctx: AuthContext): void {
    const first = this.#authRequests++ === 0
    if (this.#ended) {
      ctx.reject(['publickey'])
      return
    }
    if (ctx.method !== 'publickey') {
      // Clients open with `none` to learn the methods; like OpenSSH, that one is not a failure.
      this.#reject(ctx, !(first && ctx.method === 'none'))
      return
    }
    // ssh2 advertises ssh-rsa in server-sig-algs whatever it is told; SHA-1 signatures (ssh-rsa
    // without an rsa-sha2 hash) are refused here instead, queries too, as OpenSSH 8.8 on does.
    if (ctx.key.algo === 'ssh-rsa' && ctx.hashAlgo === undefined && this.#server.insecureAllowRsaSha1 !== true) {
      this.#reject(ctx, true)
      return
    }
    const now = Date.now()
    const entry = this.#server.authorizedKeys.find(
      (key) => key.blob.equals(ctx.key.data) && admits(key, this.remote.address, now),
    )
    if (entry === undefined) {
      this.#reject(ctx, true)
      return
    }
    if (ctx.signature === undefined) {
      // ssh2 would name `ssh-rsa` in PK_OK for an rsa-sha2 query; asyncssh then reports
      // "Key mismatch" (mscdex/ssh2#1380).
      if (ctx.key.algo === 'ssh-rsa' && ctx.hashAlgo !== undefined) {
        ctx.key.algo = ctx.hashAlgo === 'sha512' ? 'rsa-sha2-512' : 'rsa-sha2-256'
      }
      ctx.accept()
      return
    }
    if (ctx.blob !== undefined && entry.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) {
      this.#entry = entry
      this.#username = ctx.username
      ctx.accept()
      return
    }
    this.#reject(ctx, true)
  }

  #reject(ctx: AuthContext, counts: boolean): void {
    ctx.reject(['publickey'])
    if (counts && ++this.#authFailures >= this.#server.limits.maxAuthAttempts) {
      this.fail(new KorvAuthFailedError(`${this.#authFailures} authentication attempts refused`))
    }
  }

  #onReady(): void {
    clearTimeout(this.#timer)
    if (this.#ended) return
    this.touch()
    if (this.#server.limits.idleTimeout > 0) this.#armIdle(this.#server.limits.idleTimeout)
    // Open means usable, as a TLS connection is once its handshake is done: here, once logged in.
    this.#announced = true
    if (channels.connectionOpen.hasSubscribers) channels.connectionOpen.publish({ side: 'server', remote: this.remote, connection: this })
  }

  #armHandshake(left: number): void {
    const delay = Math.min(left, MAX_TIMER_DELAY)
    this.#timer = setTimeout(() => {
      if (left > delay) this.#armHandshake(left - delay)
      else this.fail(new KorvHandshakeTimeoutError(`no authentication within ${this.#server.limits.handshakeTimeout} ms`))
    }, delay)
  }

  #armIdle(delay: number): void {
    this.#timer = setTimeout(() => {
      const idle = this.#server.limits.idleTimeout
      const elapsed = Date.now() - this.#lastActivity
      // A handler still working is not idleness.
      if (this.#inFlight === 0 && elapsed >= idle) {
        this.fail(new KorvIdleTimeoutError(`no request for ${idle} ms`))
      } else {
        this.#armIdle(this.#inFlight > 0 ? idle : idle - elapsed)
      }
    }, Math.min(delay, MAX_TIMER_DELAY))
  }

  #openChannel(accept: AcceptConnection<ServerChannel>, reject: RejectConnection, info: TcpipRequestInfo): void {
    this.touch()
    const entry = this.#entry
    if (this.#ended || this.#server.closing || entry === undefined) {
      reject()
      return
    }
    if (!permitsOpen(entry, info.destIP, info.destPort)) {
      reject()
      this.clientError(new KorvChannelRefusedError(
        `authorized_keys line ${entry.line} does not permit a channel to ${info.destIP}:${info.destPort}`,
      ))
      return
    }
    if (this.#channels.size >= this.#server.limits.maxChannels) {
      reject()
      this.clientError(new KorvTooManyChannelsError(`over maxChannels ${this.#server.limits.maxChannels}`))
      return
    }
    const channel = accept()
    const dispatcher = new ChannelDispatcher(this, channel)
    this.#channels.add(dispatcher)
    channel.once('close', () => this.#channels.delete(dispatcher))
  }

  #onClose(): void {
    clearTimeout(this.#timer)
    if (!this.#reported && !this.#ended && this.#entry === undefined && this.#authFailures > 0) {
      this.#reported = true
      this.#server.clientError(new KorvAuthFailedError('client left after its keys were refused'), this)
    }
    this.#ended = true
    for (const waiter of this.#slotWaiters.splice(0)) waiter(false)
    if (this.#announced && channels.connectionClose.hasSubscribers) {
      const error = this.#failure
      channels.connectionClose.publish({ side: 'server', remote: this.remote, connection: this, ...(error === undefined ? {} : { error }) })
    }
    this.#resolveClosed()
  }
}
