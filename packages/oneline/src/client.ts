// connect(): the client, its requests matched to the server's lines in order, and its goodbye.
import type { Duplex } from 'node:stream'
import {
  CONNECT_OPTION_NAMES,
  DeadlineScheduler,
  ErrorCode as ProtoErrorCode,
  FramedConnection,
  LineDecoder,
  checkLimit,
  checkOptions,
  checkTimeout,
  connectStream,
  describeTarget,
  guardCall,
  isProtoError,
  peerInfo,
  toText,
} from '@proto/framing'
import type { CallGuard, CallOptions, ConnectOptions, OptionNames, PeerInfo, ProtoError } from '@proto/framing'
import { encodeLine } from './codec.ts'
import { Command, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT, PONG } from './constants.ts'
import { channels } from './diagnostics.ts'
import { ErrorCode, ONELINE_ERRORS, OnelineBadPongError, OnelineClosedError, OnelineTimeoutError, toOnelineError } from './errors.ts'
import { CLIENT_LIMIT_NAMES, checkOptionNames, clientLimits } from './limits.ts'
import type { ClientLimits } from './limits.ts'
import { PendingRequest, deferred } from './pending.ts'
import type { Deferred } from './pending.ts'
import type { OnelineClientLimits, OnelineCommandInfo } from './types.ts'

/** Options of `connect()`: where to (host and port, `path` or `socket`), TLS, deadlines and limits. */
export interface OnelineConnectOptions extends ConnectOptions {
  /** A host name or an IP address (an IPv6 one without brackets). @default '127.0.0.1' */
  host?: string | undefined
  /** The server's port. @default 5001 */
  port?: number | undefined
  /**
   * Milliseconds to wait for `pong` once connected (a busy server keeps a client waiting for its
   * turn), and the default deadline of every later call: `request`, `send`, `ping`, `close`,
   * `shutdown`. 0 expires at once, `Infinity` never.
   * @default 3000
   */
  timeout?: number | undefined
  /** Remove one CR before the LF of each received line. @default false */
  stripCR?: boolean | undefined
  /** What the client holds of what the server sends. @default {} (every limit at its default) */
  limits?: OnelineClientLimits | undefined
}

/** Options of `request()`. */
export interface OnelineRequestOptions extends CallOptions {
  /** Response lines to wait for; 0 resolves once the command is written. @default 1 */
  lines?: number | undefined
}

/** A connection to a oneline server. */
export interface OnelineClient extends AsyncIterable<string>, AsyncDisposable {
  /** The server's address and port (`''` and 0 for a unix socket or a given stream). */
  readonly remote: PeerInfo
  /**
   * Writes `command` + LF and expects nothing; replies go to the async iterator. Resolves once
   * the line is handed to the socket.
   * @throws {OnelineInvalidLineError} for a command that holds LF
   */
  send(command: string, opts?: CallOptions): Promise<void>
  /**
   * Writes `command` + LF and resolves with the next `lines` lines no earlier request claims.
   * @throws {OnelineTimeoutError} after `timeout`; the request keeps its place and its lines are dropped
   * @throws {OnelineClosedError} when the connection ends first
   */
  request(command: string, opts?: OnelineRequestOptions): Promise<string[]>
  /**
   * Sends `ping`.
   * @throws {OnelineBadPongError} unless the server answers `pong`
   */
  ping(opts?: CallOptions): Promise<void>
  /** Stops the server (if it allows it) and waits for it to close this connection. */
  shutdown(opts?: CallOptions): Promise<void>
  /**
   * Sends `disconnect`, waits for the server to close, then closes; the connection is closed
   * when it settles, whether it resolves or rejects.
   */
  disconnect(opts?: CallOptions): Promise<void>
  /** The same as `disconnect()`. */
  close(opts?: CallOptions): Promise<void>
  /** Resolves, never rejects, when the connection has ended. */
  readonly closed: Promise<void>
}

const OPTION_NAMES = {
  ...CONNECT_OPTION_NAMES,
  timeout: true,
  stripCR: true,
  limits: CLIENT_LIMIT_NAMES,
} as const satisfies OptionNames<OnelineConnectOptions>

const CALL_OPTION_NAMES = { signal: true, timeout: true } as const satisfies OptionNames<CallOptions>
const REQUEST_OPTION_NAMES = { ...CALL_OPTION_NAMES, lines: true } as const satisfies OptionNames<OnelineRequestOptions>

/**
 * Opens a connection (TCP, a unix socket or a given stream, with TLS if asked) and resolves once
 * the server has answered `ping` with `pong`: a server busy with another client answers when this
 * one's turn comes, within `timeout`. On failure the connection is closed.
 * @throws {UsageError} for an unknown option or a bad value
 * @throws {OnelineConnectError} when the connection cannot be opened
 * @throws {OnelineTimeoutError} after `connectTimeout` (the connection) or `timeout` (the pong)
 * @throws {OnelineBadPongError} when the first line is not `pong`
 * @throws {OnelineClosedError} when the server closes first
 * @throws the signal's reason when it aborts first
 */
export async function connect(options: OnelineConnectOptions = {}): Promise<OnelineClient> {
  checkOptionNames(options, OPTION_NAMES, 'connect()')
  const settings: ClientSettings = {
    timeout: checkTimeout('timeout', options.timeout, DEFAULT_TIMEOUT),
    limits: clientLimits(options.limits),
    stripCR: options.stripCR ?? false,
    target: targetOf(options),
  }
  const stream = await connectStream(options, { host: DEFAULT_HOST, port: DEFAULT_PORT, errors: ONELINE_ERRORS })
  const client = new Client(stream, settings)
  try {
    await client.handshake(options.signal)
  } catch (err) {
    client.destroy()
    throw err
  }
  client.opened()
  return client
}

interface ClientSettings {
  readonly timeout: number
  readonly limits: ClientLimits
  readonly stripCR: boolean
  /** The server as messages name it. */
  readonly target: string
}

function targetOf(options: OnelineConnectOptions): string {
  if (options.socket !== undefined) return 'the given socket'
  if (options.path !== undefined) return options.path
  return describeTarget({ host: options.host ?? DEFAULT_HOST, port: options.port ?? DEFAULT_PORT })
}

/** A command as a timeout's message names it: quoted, and cut short past 60 characters. */
function quote(command: string): string {
  return `'${command.length > 60 ? `${command.slice(0, 57)}...` : command}'`
}

/** What a call threw before it started, as its rejection. */
function rejected(err: unknown): Promise<never> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rethrown as it was thrown
  return Promise.reject(err)
}

const ignore = (): void => {}
// The options of a call made without any, shared rather than a new object per call.
const NO_OPTIONS: OnelineRequestOptions = Object.freeze({})
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined }

class Client implements OnelineClient {
  readonly remote: PeerInfo
  readonly closed: Promise<void>
  readonly #conn: FramedConnection
  readonly #settings: ClientSettings
  /** Every deadline of the client's calls, on one timer. */
  readonly #deadlines = new DeadlineScheduler()
  readonly #waiters: PendingRequest[] = []
  /** Lines no request claimed, for the async iterator. */
  readonly #unclaimed: string[] = []
  readonly #readers: Deferred<IteratorResult<string>>[] = []
  /** Set once the server's side has ended: `failure` is what ended it, if anything did. */
  #ended: { failure: ProtoError | undefined } | undefined
  readonly #eof = deferred<void>()
  /** Wakes the reading loop paused on a full `#unclaimed`. */
  #resume: (() => void) | undefined
  #leaving: Promise<void> | undefined
  /** The connection has been announced on `connection:open`, so its close is announced too. */
  #announced = false

  constructor(stream: Duplex, settings: ClientSettings) {
    this.#settings = settings
    this.remote = peerInfo(stream)
    const { limits } = settings
    const decoder = new LineDecoder({ maxLineBytes: limits.maxLineBytes, stripCR: settings.stripCR, trailing: 'discard' })
    this.#conn = new FramedConnection(stream, { decoder, maxWriteBufferBytes: limits.maxWriteBufferBytes })
    this.closed = this.#conn.closed.then(ignore)
    void this.#read()
  }

  /** The `ping` of connect: `pong` must come within the connect's `timeout`. */
  async handshake(signal: AbortSignal | undefined): Promise<void> {
    const [line = ''] = await this.#request(Command.PING, signal === undefined ? NO_OPTIONS : { signal }, 'waiting for pong from', false)
    if (line !== PONG) throw new OnelineBadPongError(line)
  }

  /** Announces the connection on `connection:open`, once connect has succeeded. */
  opened(): void {
    if (!channels.connectionOpen.hasSubscribers) return
    this.#announced = true
    channels.connectionOpen.publish({ side: 'client', remote: this.remote, connection: this })
  }

  async #read(): Promise<void> {
    let failure: ProtoError | undefined
    try {
      for await (const raw of this.#conn.frames()) {
        this.#deliver(toText(raw))
        // Holding the frame keeps framing from reading further, so the server feels the pause.
        while (this.#waiters.length === 0 && this.#unclaimed.length >= this.#settings.limits.maxQueuedLines && this.#leaving === undefined) {
          await new Promise<void>((resolve) => (this.#resume = resolve))
        }
      }
    } catch (err) {
      failure = toOnelineError(err)
    }
    this.#end(failure)
    const conn = this.#conn
    // The server sends FIN only when it is done with this client, so ours follows it.
    if (failure === undefined) void conn.end().then(() => conn.destroy(), () => conn.destroy())
    else conn.destroy()
  }

  #deliver(line: string): void {
    const waiter = this.#waiters[0]
    if (waiter !== undefined) {
      if (!waiter.done) waiter.add(line)
      if (--waiter.remaining > 0) return
      this.#waiters.shift()
      waiter.resolve()
      return
    }
    const reader = this.#readers.shift()
    if (reader !== undefined) reader.resolve({ done: false, value: line })
    // While leaving nobody reads on; the lines past the limit go, so the server's EOF can arrive.
    else if (this.#leaving === undefined || this.#unclaimed.length < this.#settings.limits.maxQueuedLines) this.#unclaimed.push(line)
  }

  #end(failure: ProtoError | undefined): void {
    this.#ended = { failure }
    const err = this.#closedError()
    for (const waiter of this.#waiters.splice(0)) waiter.reject(err)
    for (const reader of this.#readers.splice(0)) {
      if (failure === undefined) reader.resolve(DONE)
      else reader.reject(err)
    }
    this.#eof.resolve()
    if (this.#announced && channels.connectionClose.hasSubscribers) {
      channels.connectionClose.publish({ side: 'client', remote: this.remote, connection: this, ...(failure === undefined ? {} : { error: failure }) })
    }
  }

  #closedError(): ProtoError {
    const failure = this.#ended?.failure
    if (failure?.code === ErrorCode.CLOSED) return failure
    return new OnelineClosedError('connection closed before the expected lines', failure && { cause: failure })
  }

  #wake(): void {
    const resume = this.#resume
    this.#resume = undefined
    resume?.()
  }

  /** Writes one line; `WRITE_BUFFER_FULL` keeps its code, other failures become oneline errors. */
  async #write(bytes: Uint8Array): Promise<void> {
    if (this.#ended !== undefined) throw this.#closedError()
    try {
      await this.#conn.write(bytes)
    } catch (err) {
      throw toOnelineError(err)
    }
  }

  /**
   * The deadline and signal of one call: `fail` at the deadline or abort, until released. Its
   * timeout names `what` and the command, the message made only if it fires.
   */
  #guard(opts: CallOptions, fail: (err: unknown) => void, what: string, command?: string): CallGuard {
    const timeoutError = (timeout: number): Error => {
      const call = command === undefined ? what : `${what} ${quote(command)} to`
      return new OnelineTimeoutError(`${call} ${this.#settings.target}`, timeout)
    }
    return guardCall(this.#deadlines, opts, this.#settings.timeout, fail, timeoutError)
  }

  /** The diagnostics of a command, when someone listens: its start now, and `report` for its end. */
  #diagnose(command: string, lines: number): ((error: unknown) => void) | undefined {
    if (!channels.requestStart.hasSubscribers) return undefined
    const request: OnelineCommandInfo = { command, invalid: false, lines }
    const message = { side: 'client', remote: this.remote, connection: this, request } as const
    channels.requestStart.publish(message)
    return (error) => {
      if (error === undefined) channels.requestEnd.publish(message)
      else channels.requestError.publish({ ...message, error })
    }
  }

  send(command: string, opts: CallOptions = NO_OPTIONS): Promise<void> {
    const call = deferred<void>()
    let guard: CallGuard
    let bytes: Uint8Array
    try {
      if (opts !== NO_OPTIONS) checkOptions(opts, CALL_OPTION_NAMES, 'send()')
      bytes = encodeLine(command)
      guard = this.#guard(opts, call.reject, 'send', command)
    } catch (err) {
      return rejected(err)
    }
    const report = this.#diagnose(command, 0)
    this.#write(bytes).then(call.resolve, call.reject)
    return call.promise.then(
      () => {
        guard.release()
        report?.(undefined)
      },
      (err: unknown) => {
        guard.release()
        report?.(err)
        throw err
      },
    )
  }

  request(command: string, opts: OnelineRequestOptions = NO_OPTIONS): Promise<string[]> {
    try {
      if (opts !== NO_OPTIONS) checkOptions(opts, REQUEST_OPTION_NAMES, 'request()')
    } catch (err) {
      return rejected(err)
    }
    return this.#request(command, opts, 'request', true)
  }

  #request(command: string, opts: OnelineRequestOptions, what: string, diagnose: boolean): Promise<string[]> {
    let waiter: PendingRequest
    let bytes: Uint8Array
    try {
      bytes = encodeLine(command)
      const lines = checkLimit('lines', opts.lines, 1, 0)
      if (this.#ended !== undefined) throw this.#closedError()
      waiter = new PendingRequest(lines)
      waiter.guard = this.#guard(opts, waiter.reject, what, what === 'request' ? command : undefined)
      if (diagnose) waiter.report = this.#diagnose(command, lines)
    } catch (err) {
      return rejected(err)
    }
    if (waiter.remaining === 0) {
      this.#write(bytes).then(() => waiter.resolve(), waiter.reject)
      return waiter.promise
    }
    // Queued before writing, so concurrent requests line up in the order their bytes go out.
    this.#waiters.push(waiter)
    this.#wake()
    this.#conn.write(bytes).then(undefined, (err: unknown) => {
      // Nothing was written, so nothing will answer: the request must not hold a place. It may
      // have left already, settled by lines that arrived first or by the connection's end.
      const index = this.#waiters.indexOf(waiter)
      if (isProtoError(err) && err.code === ProtoErrorCode.WRITE_BUFFER_FULL && index !== -1) this.#waiters.splice(index, 1)
      waiter.reject(toOnelineError(err))
    })
    // Given up by timeout or signal, the request keeps its place and its lines are dropped.
    return waiter.promise
  }

  async ping(opts: CallOptions = NO_OPTIONS): Promise<void> {
    if (opts !== NO_OPTIONS) checkOptions(opts, CALL_OPTION_NAMES, 'ping()')
    const [line = ''] = await this.#request(Command.PING, opts, 'ping to', true)
    if (line !== PONG) throw new OnelineBadPongError(line)
  }

  shutdown(opts: CallOptions = NO_OPTIONS): Promise<void> {
    return (this.#leaving ??= this.#leave(Command.SHUTDOWN, opts, 'shutdown of'))
  }

  disconnect(opts: CallOptions = NO_OPTIONS): Promise<void> {
    return (this.#leaving ??= this.#leave(Command.DISCONNECT, opts, 'disconnect from'))
  }

  close(opts: CallOptions = NO_OPTIONS): Promise<void> {
    return this.disconnect(opts)
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return {
      next: () => this.#next(),
      // Leaving a for-await loop stops iterating, not the connection.
      return: () => Promise.resolve(DONE),
    }
  }

  #next(): Promise<IteratorResult<string>> {
    const line = this.#unclaimed.shift()
    if (line !== undefined) {
      this.#wake()
      return Promise.resolve({ done: false, value: line })
    }
    if (this.#ended !== undefined) return this.#ended.failure === undefined ? Promise.resolve(DONE) : Promise.reject(this.#closedError())
    const reader = deferred<IteratorResult<string>>()
    this.#readers.push(reader)
    return reader.promise
  }

  /**
   * Sends the leaving command, waits for the server's EOF, then closes the socket; the socket is
   * closed however it ends, an already aborted signal or a timeout of 0 included.
   */
  async #leave(command: string, opts: CallOptions, what: string): Promise<void> {
    // A reader paused on a full line queue must go on, or the EOF is never seen.
    this.#wake()
    const left = deferred<void>()
    let guard: CallGuard | undefined
    try {
      if (opts !== NO_OPTIONS) checkOptions(opts, CALL_OPTION_NAMES, `${command}()`)
      // Armed before the goodbye starts: when it throws, nothing is left running unobserved.
      guard = this.#guard(opts, left.reject, what)
      this.#goodbye(command).then(left.resolve, left.reject)
      await left.promise
    } finally {
      guard?.release()
      this.#conn.destroy()
      await this.closed
    }
  }

  async #goodbye(command: string): Promise<void> {
    if (this.#ended !== undefined) return
    await this.#write(encodeLine(command)).catch((err: unknown) => {
      // A connection that is already gone has nothing left to close.
      if (!isProtoError(err) || err.code !== ErrorCode.CLOSED) throw err
    })
    await this.#eof.promise
    try {
      await this.#conn.end()
    } catch (err) {
      throw toOnelineError(err)
    }
  }

  /** Closes at once, without telling the server. */
  destroy(): void {
    this.#conn.destroy()
  }
}
