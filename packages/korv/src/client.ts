/** `connect()`: a korv client on one `direct-tcpip` channel of an SSH connection. */
import type { Buffer } from 'node:buffer'
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { homedir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import type { ClientChannel } from 'ssh2'
import {
  checkLimit,
  checkOptions,
  checkTimeout,
  CONNECT_OPTION_NAMES,
  connectStream,
  DEFAULT_CONNECT_TIMEOUT,
  DeadlineScheduler,
  describeTarget,
  escapeControl,
  guardCall,
  peerInfo,
  UsageError,
} from '@proto/framing'
import type { CallOptions, ConnectOptions, GzipMemberDecoder, OptionNames, PeerInfo } from '@proto/framing'
import { createMessageDecoder, encodeChecked, isVerb, parseResponse } from './codec.ts'
import {
  DEFAULT_CALL_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_JSON_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PORT,
  DEFAULT_USERNAME,
} from './constants.ts'
import type { KorvCompressionOptions, KorvLimits, KorvVerb } from './constants.ts'
import { checkCompression } from './deflate.ts'
import type { Compression } from './deflate.ts'
import { channels } from './diagnostics.ts'
import type { KorvRequestInfo } from './diagnostics.ts'
import {
  ErrorCode,
  fromFramingError,
  KorvAuthFailedError,
  KorvBadKeyError,
  KorvBadMessageError,
  KorvChannelRefusedError,
  KorvClosedError,
  KorvConnectError,
  KorvHostKeyError,
  KorvTimeoutError,
  KorvTooManyInFlightError,
  KorvUnknownVerbError,
  RemoteError,
} from './errors.ts'
import { KORV_ERRORS } from './errors.ts'
import type { KorvError } from './errors.ts'
import { readKeyInput } from './key-input.ts'
import { PacketQueue } from './packet-queue.ts'
import { TickCork } from './tick-cork.ts'
import { fingerprint, parsePrivateKey } from './keys.ts'
import type { KeyInput } from './key-input.ts'
import { checkKnownHost, knownHostName, parseKnownHosts } from './known-hosts.ts'
import type { KnownHost } from './known-hosts.ts'

/** The limits a client keeps on a server. */
export type KorvClientLimits = Pick<KorvLimits, 'maxMessageBytes' | 'maxJsonBytes' | 'maxInFlight'>

/**
 * Where and how to connect: framing's `ConnectOptions` (`host`/`port`, `path`, or `socket`, an
 * already connected stream SSH runs over; `connectTimeout`; `signal`), without `tls`: SSH encrypts.
 */
export interface KorvConnectOptions extends Omit<ConnectOptions, 'tls'> {
  /** Sent in authentication; korv servers ignore it. @default 'korv' */
  username?: string | undefined
  /** Each call's default timeout in milliseconds (`Infinity`: none). @default 30_000 */
  timeout?: number | undefined
  /** The client's private key (OpenSSH or PEM): its text, bytes or `{ path }`. */
  privateKey: KeyInput
  /** Passphrase of an encrypted `privateKey`. @default undefined */
  passphrase?: string | undefined
  /** An OpenSSH known_hosts file. @default { path: '~/.ssh/known_hosts' } unless `hostKeyFingerprint` is given */
  knownHosts?: KeyInput | undefined
  /** Trusted host key fingerprints, `SHA256:…` as `ssh-keygen -lf` prints them. @default undefined */
  hostKeyFingerprint?: string | string[] | undefined
  /** Skips host key verification. Only alone: with `knownHosts` or a fingerprint it is `ERR_PROTO_USAGE`. @default false */
  insecureAcceptAnyHostKey?: boolean | undefined
  /** How the requests sent are compressed. @default { level: 1, threshold: 4096 } */
  compression?: KorvCompressionOptions | undefined
  /** Limits on the server's replies and on this client's calls. @default the DEFAULT_* values */
  limits?: Partial<KorvClientLimits> | undefined
}

const { tls: _tls, ...BASE_NAMES } = CONNECT_OPTION_NAMES
const CONNECT_NAMES = {
  ...BASE_NAMES,
  username: true,
  timeout: true,
  privateKey: true,
  passphrase: true,
  knownHosts: true,
  hostKeyFingerprint: true,
  insecureAcceptAnyHostKey: true,
  compression: { level: true, threshold: true },
  limits: { maxMessageBytes: true, maxJsonBytes: true, maxInFlight: true },
} as const satisfies OptionNames<KorvConnectOptions>

/** A server's reply to one call. */
export interface KorvReply {
  /** The status, an integer: below 400 a success, from 400 up an error. */
  code: number
  /** The reply's JSON body (`null` when the server sent none). */
  body: unknown
}

/** The events a `KorvClient` emits, each with its listener's arguments. */
export interface KorvClientEvents {
  /**
   * A message from the server could not be decoded. It fails no call; one past `maxMessageBytes`
   * or `maxJsonBytes` also ends the connection, else the connection goes on.
   */
  protocolError: [err: KorvError]
  /** The connection has ended, with the error that ended it when it failed. */
  close: [err?: KorvError]
}

/** A connection to a korv server over one `direct-tcpip` channel; calls may overlap. */
export interface KorvClient extends AsyncDisposable, EventEmitter<KorvClientEvents> {
  /** The server: the address dialled, or the given socket's peer. */
  readonly remote: PeerInfo
  /** Resolves below 400; rejects with `RemoteError` from 400 up. */
  get(resource: string, body?: unknown, opts?: CallOptions): Promise<KorvReply>
  /** Sends `STORE` with a body; resolves below 400, rejects with `RemoteError` from 400 up. */
  store(resource: string, body: unknown, opts?: CallOptions): Promise<KorvReply>
  /** Sends `UPDATE` with a body; resolves below 400, rejects with `RemoteError` from 400 up. */
  update(resource: string, body: unknown, opts?: CallOptions): Promise<KorvReply>
  /** Sends `DELETE`; resolves below 400, rejects with `RemoteError` from 400 up. */
  delete(resource: string, body?: unknown, opts?: CallOptions): Promise<KorvReply>
  /** Resolves with any code. */
  request(verb: KorvVerb, resource: string, body?: unknown, opts?: CallOptions): Promise<KorvReply>
  /** Refuses new calls, waits for pending ones, then disconnects; `signal` cuts the wait short. */
  close(opts?: { signal?: AbortSignal | undefined }): Promise<void>
  /** Resolves, never rejects, once the connection has ended. */
  readonly closed: Promise<void>
}

interface Pending {
  resolve(reply: KorvReply): void
  reject(err: Error): void
  anyCode: boolean
}

interface Settings {
  maxMessageBytes: number
  maxJsonBytes: number
  maxInFlight: number
  timeout: number
  compression: Compression
}

let lastId = 0
/** `time.time()` like the original, made strictly increasing so ids never repeat. */
function nextId(): number {
  let id = Date.now() / 1000
  if (id <= lastId) id = lastId + 0.001
  lastId = id
  return id
}

class Client extends EventEmitter<KorvClientEvents> implements KorvClient {
  readonly closed: Promise<void>
  readonly remote: PeerInfo
  readonly #deadlines: DeadlineScheduler
  readonly #ssh: ssh2.Client
  readonly #channel: ClientChannel
  readonly #settings: Settings
  readonly #pending = new Map<number, Pending>()
  #decoder: GzipMemberDecoder
  readonly #packets: PacketQueue<Buffer>
  readonly #cork: TickCork
  #closing = false
  #ended = false
  #failure: Error | undefined
  // Each close() waiting for the pending calls; every one is told, not only the last.
  readonly #drainWaiters: (() => void)[] = []
  #resolveClosed!: () => void

  constructor(ssh: ssh2.Client, socket: Duplex, channel: ClientChannel, settings: Settings, remote: PeerInfo, deadlines: DeadlineScheduler) {
    super()
    this.remote = remote
    this.#deadlines = deadlines
    this.#ssh = ssh
    this.#cork = new TickCork(socket)
    this.#channel = channel
    this.#settings = settings
    this.#decoder = createMessageDecoder(settings)
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve
    })
    ssh.on('error', (err: Error) => {
      this.#failure ??= err
    })
    ssh.on('close', () => this.#onEnd())
    channel.on('error', (err: Error) => {
      this.#failure ??= err
    })
    channel.on('close', () => {
      // One channel is the whole client: without it the connection has no use.
      this.#ssh.end()
      this.#onEnd()
    })
    this.#packets = new PacketQueue(channel, (chunk) => this.#onPacket(chunk), () => !this.#ended)
    channel.on('data', (chunk: Buffer) => this.#packets.push(chunk))
  }

  get(resource: string, body?: unknown, opts?: CallOptions): Promise<KorvReply> {
    return this.#call('GET', resource, body, opts, false)
  }
  store(resource: string, body: unknown, opts?: CallOptions): Promise<KorvReply> {
    return this.#call('STORE', resource, body, opts, false)
  }
  update(resource: string, body: unknown, opts?: CallOptions): Promise<KorvReply> {
    return this.#call('UPDATE', resource, body, opts, false)
  }
  delete(resource: string, body?: unknown, opts?: CallOptions): Promise<KorvReply> {
    return this.#call('DELETE', resource, body, opts, false)
  }
  request(verb: KorvVerb, resource: string, body?: unknown, opts?: CallOptions): Promise<KorvReply> {
    return this.#call(verb, resource, body, opts, true)
  }

  async close(opts: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    this.#closing = true
    const { signal } = opts
    if (this.#pending.size > 0 && !this.#ended) {
      await new Promise<void>((resolve) => {
        const onAbort = (): void => {
          this.#failure ??= signal?.reason as Error
          this.#ssh.destroy()
          resolve()
        }
        if (signal?.aborted) onAbort()
        signal?.addEventListener('abort', onAbort, { once: true })
        this.#drainWaiters.push(() => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        })
      })
    }
    // No channel EOF first: the original drops the whole connection on it.
    this.#ssh.end()
    await this.closed
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  async #call(verb: KorvVerb, resource: string, body: unknown, opts: CallOptions | undefined, anyCode: boolean): Promise<KorvReply> {
    if (this.#closing || this.#ended) {
      throw new KorvClosedError(this.#ended ? 'connection closed' : 'client is closing')
    }
    if (!isVerb(verb)) throw new KorvUnknownVerbError(verb)
    if (typeof resource !== 'string') throw new UsageError('resource must be a string')
    if (this.#pending.size >= this.#settings.maxInFlight) {
      throw new KorvTooManyInFlightError(`over maxInFlight ${this.#settings.maxInFlight}`)
    }
    const id = nextId()
    const bytes = encodeChecked({ id, verb, resource, body: body ?? null }, this.#settings)
    const info: KorvRequestInfo = { verb, resource, id }
    return new Promise<KorvReply>((resolve, reject) => {
      const finish = (): void => {
        guard.release()
        this.#pending.delete(id)
        if (this.#pending.size === 0) this.#drained()
      }
      const failed = (err: unknown): void => {
        finish()
        if (channels.requestError.hasSubscribers) {
          channels.requestError.publish({ side: 'client', remote: this.remote, connection: this, request: info, error: err })
        }
        // An abort rejects with signal.reason, whatever it is.
        ;(reject as (reason: unknown) => void)(err)
      }
      const guard = guardCall(this.#deadlines, opts, this.#settings.timeout, failed, (timeout) => new KorvTimeoutError(`${verb} ${resource}`, timeout))
      if (channels.requestStart.hasSubscribers) channels.requestStart.publish({ side: 'client', remote: this.remote, connection: this, request: info })
      this.#pending.set(id, {
        anyCode,
        resolve: (reply) => {
          finish()
          info.code = reply.code
          if (channels.requestEnd.hasSubscribers) channels.requestEnd.publish({ side: 'client', remote: this.remote, connection: this, request: info })
          resolve(reply)
        },
        reject: failed,
      })
      this.#cork.hold()
      this.#channel.write(bytes)
    })
  }

  #drained(): void {
    for (const resolve of this.#drainWaiters.splice(0)) resolve()
  }

  async #onPacket(chunk: Buffer): Promise<void> {
    if (this.#ended) return
    let frames: Buffer[] = []
    let fault: unknown
    try {
      frames = await this.#decoder.push(chunk)
      fault = this.#decoder.error
    } catch (err) {
      fault = err
    }
    for (const frame of frames) this.#onMessage(frame)
    if (fault === undefined) return
    const err = fromFramingError(fault)
    this.emit('protocolError', err)
    if (err.code === ErrorCode.MESSAGE_TOO_LARGE) {
      // A peer that overruns the limit cannot be trusted with the rest of the stream.
      this.#failure ??= err
      this.#ssh.end()
      this.#onEnd()
      return
    }
    this.#decoder = createMessageDecoder(this.#settings)
  }

  #onMessage(frame: Buffer): void {
    let response
    try {
      response = parseResponse(frame)
    } catch (err) {
      this.emit('protocolError', err as KorvBadMessageError)
      return
    }
    const { requestId, code, body } = response
    // request_id 0 answers what the server could not identify (the original's spurious 400s);
    // unknown ids include second replies to a settled call.
    if (typeof requestId !== 'number' || requestId === 0) return
    const pending = this.#pending.get(requestId)
    if (pending === undefined) return
    if (typeof code !== 'number' || !Number.isInteger(code)) {
      pending.reject(new KorvBadMessageError(`reply code ${JSON.stringify(code) ?? 'undefined'} is not an integer`))
    } else if (code >= 400 && !pending.anyCode) {
      pending.reject(new RemoteError(code, body))
    } else {
      pending.resolve({ code, body })
    }
  }

  #onEnd(): void {
    if (this.#ended) return
    this.#ended = true
    const cause = this.#failure
    const err = new KorvClosedError(cause === undefined ? 'connection closed' : `connection closed: ${escapeControl(cause.message)}`, { cause })
    for (const pending of [...this.#pending.values()]) pending.reject(err)
    this.#drained()
    this.#deadlines.clear()
    this.#resolveClosed()
    if (channels.connectionClose.hasSubscribers) {
      channels.connectionClose.publish({ side: 'client', remote: this.remote, connection: this, ...(cause === undefined ? {} : { error: err }) })
    }
    this.emit('close', ...(cause === undefined ? [] : [err]))
  }
}

async function readKnownHosts(options: KorvConnectOptions): Promise<KnownHost[]> {
  const input = options.knownHosts ?? (options.hostKeyFingerprint === undefined ? { path: join(homedir(), '.ssh', 'known_hosts') } : undefined)
  if (input === undefined) return []
  let text: string | Buffer
  try {
    text = await readKeyInput(input, 'known_hosts')
  } catch (err) {
    // A missing known_hosts file trusts nothing, as in OpenSSH.
    if ((err as { cause?: { code?: unknown } }).cause?.code === 'ENOENT') return []
    throw err
  }
  return parseKnownHosts(text.toString()).hosts
}

function settingsOf(options: KorvConnectOptions): Settings & { connectTimeout: number } {
  const limits = options.limits
  return {
    maxMessageBytes: checkLimit('maxMessageBytes', limits?.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
    maxJsonBytes: checkLimit('maxJsonBytes', limits?.maxJsonBytes, DEFAULT_MAX_JSON_BYTES),
    maxInFlight: checkLimit('maxInFlight', limits?.maxInFlight, DEFAULT_MAX_IN_FLIGHT),
    connectTimeout: checkTimeout('connectTimeout', options.connectTimeout, DEFAULT_CONNECT_TIMEOUT),
    timeout: checkTimeout('timeout', options.timeout, DEFAULT_CALL_TIMEOUT),
    compression: checkCompression(options.compression),
  }
}

/**
 * Connects, verifies the host key, authenticates and opens the channel, all within
 * `connectTimeout`.
 * @throws {KorvConnectError} naming the target, with the cause
 * @throws {KorvTimeoutError} when `connectTimeout` passes first
 * @throws {KorvHostKeyError} / {KorvAuthFailedError} / {KorvChannelRefusedError}
 */
export async function connect(options: KorvConnectOptions): Promise<KorvClient> {
  checkOptions(options, CONNECT_NAMES, 'connect()')
  const { username = DEFAULT_USERNAME, signal } = options
  const settings = settingsOf(options)
  const insecure = options.insecureAcceptAnyHostKey === true
  if (insecure && (options.knownHosts !== undefined || options.hostKeyFingerprint !== undefined)) {
    throw new UsageError('insecureAcceptAnyHostKey cannot be combined with knownHosts or hostKeyFingerprint')
  }
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORT
  const target = options.path ?? describeTarget({ host, port })
  const fingerprints = new Set([options.hostKeyFingerprint ?? []].flat())
  const knownHosts = insecure ? [] : await readKnownHosts(options)
  const keyData = await readKeyInput(options.privateKey, 'private key')
  parsePrivateKey(keyData, options.passphrase, 'private key')
  signal?.throwIfAborted()

  const deadlines = new DeadlineScheduler()
  const started = performance.now()
  const { limits: _limits, username: _username, timeout: _timeout, privateKey: _key, passphrase: _pass, knownHosts: _known,
    hostKeyFingerprint: _fp, insecureAcceptAnyHostKey: _insecure, compression: _compression, ...transport } = options
  const socket = await connectStream({ ...transport, connectTimeout: settings.connectTimeout }, {
    host: DEFAULT_HOST, port: DEFAULT_PORT, errors: KORV_ERRORS, allowHalfOpen: false,
  })
  const remote = options.socket === undefined && options.path === undefined ? { address: host, port } : peerInfo(socket)

  const ssh = new ssh2.Client()
  // known_hosts names the host and port dialled; a given socket or a unix socket is checked as the host given.
  const hostName = knownHostName(host, port)
  let refusedHostKey: string | undefined
  const verify = (key: Buffer): boolean => {
    if (fingerprints.has(fingerprint(key)) || checkKnownHost(knownHosts, hostName, key) === 'trusted') return true
    refusedHostKey = fingerprint(key)
    return false
  }
  // ssh2 may still emit after setup failed; an 'error' without a listener would crash the process.
  ssh.on('error', () => {})
  socket.on('error', () => {})
  return new Promise<KorvClient>((resolve, reject) => {
    let done = false
    const fail = (err: Error): void => {
      if (done) return
      done = true
      cleanup()
      deadlines.clear()
      ssh.destroy()
      socket.destroy()
      reject(err)
    }
    const cleanup = (): void => {
      deadline?.cancel()
      signal?.removeEventListener('abort', onAbort)
      ssh.removeListener('error', onError)
      ssh.removeListener('close', onClose)
    }
    const onAbort = (): void => fail(signal?.reason as Error)
    const onError = (err: Error & { level?: string }): void => {
      if (refusedHostKey !== undefined) fail(new KorvHostKeyError(host, refusedHostKey, { cause: err }))
      else if (err.level === 'client-authentication') fail(new KorvAuthFailedError(`authentication refused: ${escapeControl(err.message)}`, { cause: err }))
      else fail(new KorvConnectError(target, { cause: err }))
    }
    const onClose = (): void => {
      fail(refusedHostKey === undefined
        ? new KorvConnectError(target, { cause: new Error('the connection closed during the SSH handshake') })
        : new KorvHostKeyError(host, refusedHostKey))
    }
    const remaining = settings.connectTimeout - (performance.now() - started)
    const deadline = settings.connectTimeout === Number.POSITIVE_INFINITY
      ? undefined
      : deadlines.schedule(Math.max(0, Math.ceil(remaining)), () => fail(new KorvTimeoutError(`connect to ${target}`, settings.connectTimeout)))
    signal?.addEventListener('abort', onAbort, { once: true })
    if (signal?.aborted === true) onAbort()
    ssh.on('error', onError)
    ssh.on('close', onClose)
    const onChannel = (err: Error | undefined, channel: ClientChannel): void => {
      if (done) {
        channel?.close()
        return
      }
      if (err !== undefined) {
        fail(new KorvChannelRefusedError(`server refused the channel: ${escapeControl(err.message)}`, { cause: err }))
        return
      }
      done = true
      cleanup()
      const client = new Client(ssh, socket, channel, settings, remote, deadlines)
      if (channels.connectionOpen.hasSubscribers) channels.connectionOpen.publish({ side: 'client', remote, connection: client })
      resolve(client)
    }
    ssh.once('ready', () => {
      // Like the original: ask for the host and port we dialled, from '':0.
      try {
        ssh.forwardOut('', 0, host, port, onChannel)
      } catch (err) {
        fail(new KorvConnectError(target, { cause: err }))
      }
    })
    try {
      ssh.connect({
        sock: socket,
        username,
        privateKey: keyData,
        ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
        ...(insecure ? {} : { hostVerifier: verify }),
        authHandler: ['publickey'],
        // The deadline above covers the handshake: ssh2's own timer is off.
        readyTimeout: 0,
        // ssh2 can throw an uncatchable "Invalid Zlib instance" with asyncssh's zlib@openssh.com
        // (mscdex/ssh2#1178).
        algorithms: { compress: ['none'] },
      })
    } catch (err) {
      fail(new KorvBadKeyError(`cannot start the connection: ${(err as Error).message}`, { cause: err }))
    }
  })
}
