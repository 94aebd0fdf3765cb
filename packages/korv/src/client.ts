import type { Buffer } from 'node:buffer'
import { EventEmitter } from 'node:events'
import net from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import type { ClientChannel } from 'ssh2'
import { checkLimit, UsageError } from '@proto/framing'
import type { CallOptions, GzipMemberDecoder } from '@proto/framing'
import { createMessageDecoder, encodeChecked, isVerb, parseResponse } from './codec.ts'
import {
  DEFAULT_CALL_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
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
import {
  ErrorCode,
  fromFramingError,
  KorvAuthFailedError,
  KorvBadKeyError,
  KorvBadMessageError,
  KorvChannelRefusedError,
  KorvClosedError,
  KorvConnectError,
  KorvHandshakeTimeoutError,
  KorvHostKeyError,
  KorvTooManyInFlightError,
  KorvUnknownVerbError,
  RemoteError,
} from './errors.ts'
import type { KorvError } from './errors.ts'
import { readKeyInput } from './key-input.ts'
import { PacketQueue } from './packet-queue.ts'
import { TickCork } from './tick-cork.ts'
import { fingerprint, parsePrivateKey } from './keys.ts'
import type { KeyInput } from './key-input.ts'
import { checkKnownHost, knownHostName, parseKnownHosts } from './known-hosts.ts'
import type { KnownHost } from './known-hosts.ts'

export interface KorvClientOptions
  extends Partial<Pick<KorvLimits, 'maxMessageBytes' | 'maxJsonBytes' | 'maxInFlight' | 'handshakeTimeout'>> {
  /** @default '127.0.0.1' */
  host?: string
  /** @default 8022 */
  port?: number
  /** Sent in authentication; korv servers ignore it. @default 'korv' */
  username?: string
  /** Aborts `connect()`. */
  signal?: AbortSignal
  /** Each call's default timeout in milliseconds. @default 30_000 */
  timeout?: number
  /** The client's private key (OpenSSH or PEM): its text, bytes or `{ path }`. */
  privateKey: KeyInput
  /** Passphrase of an encrypted `privateKey`. */
  passphrase?: string
  /** An OpenSSH known_hosts file. @default { path: '~/.ssh/known_hosts' } unless `hostKeyFingerprint` is given */
  knownHosts?: KeyInput
  /** Trusted host key fingerprints, `SHA256:…` as `ssh-keygen -lf` prints them. */
  hostKeyFingerprint?: string | string[]
  /** Skips host key verification. Only alone: with `knownHosts` or a fingerprint it is `ERR_PROTO_USAGE`. @default false */
  insecureAcceptAnyHostKey?: boolean
  /** How the requests sent are compressed. @default { level: 1, threshold: 4096 } */
  compression?: KorvCompressionOptions
}

export interface KorvReply {
  code: number
  body: unknown
}

export interface KorvClientEvents {
  protocolError: [err: KorvError]
  close: [err?: KorvError]
}

/** A connection to a korv server over one `direct-tcpip` channel; calls may overlap. */
export interface KorvClient extends AsyncDisposable, EventEmitter<KorvClientEvents> {
  /** Resolves below 400; rejects with `RemoteError` from 400 up. */
  get(resource: string, body?: unknown, opts?: CallOptions): Promise<KorvReply>
  store(resource: string, body: unknown, opts?: CallOptions): Promise<KorvReply>
  update(resource: string, body: unknown, opts?: CallOptions): Promise<KorvReply>
  delete(resource: string, body?: unknown, opts?: CallOptions): Promise<KorvReply>
  /** Resolves with any code. */
  request(verb: KorvVerb, resource: string, body?: unknown, opts?: CallOptions): Promise<KorvReply>
  /** Refuses new calls, waits for pending ones, then disconnects; `signal` cuts the wait short. */
  close(opts?: { signal?: AbortSignal }): Promise<void>
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
  #drained: (() => void) | undefined
  #resolveClosed!: () => void

  constructor(ssh: ssh2.Client, socket: net.Socket, channel: ClientChannel, settings: Settings) {
    super()
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

  async close(opts: { signal?: AbortSignal } = {}): Promise<void> {
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
        this.#drained = () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }
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
    const signal = opts?.signal
    if (signal?.aborted) throw signal.reason as Error
    const timeout = checkLimit('timeout', opts?.timeout, this.#settings.timeout)
    if (this.#pending.size >= this.#settings.maxInFlight) {
      throw new KorvTooManyInFlightError(`over maxInFlight ${this.#settings.maxInFlight}`)
    }
    const id = nextId()
    const bytes = encodeChecked({ id, verb, resource, body: body ?? null }, this.#settings)
    return new Promise<KorvReply>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#pending.delete(id)
        if (this.#pending.size === 0) this.#drained?.()
      }
      const onAbort = (): void => {
        finish()
        reject(signal?.reason as Error)
      }
      const timer = setTimeout(() => {
        finish()
        reject(new DOMException(`${verb} ${resource} got no reply within ${timeout} ms`, 'TimeoutError'))
      }, timeout)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(id, {
        anyCode,
        resolve: (reply) => {
          finish()
          resolve(reply)
        },
        reject: (err) => {
          finish()
          reject(err)
        },
      })
      this.#cork.hold()
      this.#channel.write(bytes)
    })
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
    const err = new KorvClosedError(cause === undefined ? 'connection closed' : `connection closed: ${cause.message}`, { cause })
    for (const pending of [...this.#pending.values()]) pending.reject(err)
    this.#drained?.()
    this.#resolveClosed()
    this.emit('close', ...(cause === undefined ? [] : [err]))
  }
}

async function readKnownHosts(options: KorvClientOptions): Promise<KnownHost[]> {
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

function settingsOf(options: KorvClientOptions): Settings & { handshakeTimeout: number } {
  return {
    maxMessageBytes: checkLimit('maxMessageBytes', options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
    maxJsonBytes: checkLimit('maxJsonBytes', options.maxJsonBytes, DEFAULT_MAX_JSON_BYTES),
    maxInFlight: checkLimit('maxInFlight', options.maxInFlight, DEFAULT_MAX_IN_FLIGHT),
    handshakeTimeout: checkLimit('handshakeTimeout', options.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT),
    timeout: checkLimit('timeout', options.timeout, DEFAULT_CALL_TIMEOUT),
    compression: checkCompression(options.compression),
  }
}

/** Connects, verifies the host key, authenticates and opens the channel. */
export async function connect(options: KorvClientOptions): Promise<KorvClient> {
  const { host = DEFAULT_HOST, port = DEFAULT_PORT, username = DEFAULT_USERNAME, signal } = options
  const settings = settingsOf(options)
  const insecure = options.insecureAcceptAnyHostKey === true
  if (insecure && (options.knownHosts !== undefined || options.hostKeyFingerprint !== undefined)) {
    throw new UsageError('insecureAcceptAnyHostKey cannot be combined with knownHosts or hostKeyFingerprint')
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new UsageError(`port ${port} is not a TCP port`)
  const fingerprints = new Set([options.hostKeyFingerprint ?? []].flat())
  const knownHosts = insecure ? [] : await readKnownHosts(options)
  const keyData = await readKeyInput(options.privateKey, 'private key')
  parsePrivateKey(keyData, options.passphrase, 'private key')
  signal?.throwIfAborted()

  const ssh = new ssh2.Client()
  const hostName = knownHostName(host, port)
  let refusedHostKey: string | undefined
  const verify = (key: Buffer): boolean => {
    if (fingerprints.has(fingerprint(key)) || checkKnownHost(knownHosts, hostName, key) === 'trusted') return true
    refusedHostKey = fingerprint(key)
    return false
  }
  const socket = new net.Socket()
  // ssh2 may still emit after setup failed; an 'error' without a listener would crash the process.
  ssh.on('error', () => {})
  // Until ssh2 listens (a key it refuses throws first), and after it stopped listening.
  socket.on('error', () => {})
  return new Promise<KorvClient>((resolve, reject) => {
    let done = false
    const fail = (err: Error): void => {
      if (done) return
      done = true
      cleanup()
      ssh.destroy()
      socket.destroy()
      reject(err)
    }
    const cleanup = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      ssh.removeListener('error', onError)
      ssh.removeListener('close', onClose)
    }
    const onAbort = (): void => fail(signal?.reason as Error)
    const onError = (err: Error & { level?: string }): void => {
      if (refusedHostKey !== undefined) fail(new KorvHostKeyError(host, refusedHostKey, { cause: err }))
      else if (err.level === 'client-authentication') fail(new KorvAuthFailedError(`authentication refused: ${err.message}`, { cause: err }))
      else if (err.level === 'client-timeout') fail(new KorvHandshakeTimeoutError(`no handshake within ${settings.handshakeTimeout} ms`, { cause: err }))
      else fail(new KorvConnectError(`cannot connect to ${host}:${port}: ${err.message}`, { cause: err }))
    }
    const onClose = (): void => {
      fail(refusedHostKey === undefined
        ? new KorvConnectError(`connection to ${host}:${port} closed during setup`)
        : new KorvHostKeyError(host, refusedHostKey))
    }
    const timer = setTimeout(() => {
      fail(new KorvHandshakeTimeoutError(`not connected within ${settings.handshakeTimeout} ms`))
    }, settings.handshakeTimeout)
    signal?.addEventListener('abort', onAbort, { once: true })
    ssh.on('error', onError)
    ssh.on('close', onClose)
    const onChannel = (err: Error | undefined, channel: ClientChannel): void => {
      if (done) {
        channel?.close()
        return
      }
      if (err !== undefined) {
        fail(new KorvChannelRefusedError(`server refused the channel: ${err.message}`, { cause: err }))
        return
      }
      done = true
      cleanup()
      resolve(new Client(ssh, socket, channel, settings))
    }
    ssh.once('ready', () => {
      // Like the original: ask for the host and port we dialled, from '':0.
      try {
        ssh.forwardOut('', 0, host, port, onChannel)
      } catch (err) {
        fail(new KorvConnectError(`connection to ${host}:${port} ended before its channel opened`, { cause: err }))
      }
    })
    try {
      // Our own socket, so that a tick's requests can leave in one system call (TickCork). ssh2
      // treats a socket still connecting as it treats its own: it waits for 'connect'.
      socket.connect({ host, port })
      ssh.connect({
        sock: socket,
        host,
        port,
        username,
        privateKey: keyData,
        ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
        ...(insecure ? {} : { hostVerifier: verify }),
        authHandler: ['publickey'],
        readyTimeout: settings.handshakeTimeout,
        // ssh2 can throw an uncatchable "Invalid Zlib instance" with asyncssh's zlib@openssh.com
        // (mscdex/ssh2#1178).
        algorithms: { compress: ['none'] },
      })
      // Requests and replies are small and latency-bound: Nagle would hold each for an ACK.
      socket.setNoDelay(true)
    } catch (err) {
      fail(new KorvBadKeyError(`cannot start the connection: ${(err as Error).message}`, { cause: err }))
    }
  })
}
