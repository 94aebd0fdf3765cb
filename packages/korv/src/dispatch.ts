/** One `direct-tcpip` channel on the server: decoding, the checks of spec §1.5, handlers and replies. */
import type { ServerChannel } from 'ssh2'
import type { GzipMemberDecoder } from '@proto/framing'
import { createMessageDecoder, encodeChecked, parseRequest } from './codec.ts'
import type { KorvRequest } from './codec.ts'
import type { KorvLimits, KorvVerb } from './constants.ts'
import type { MessageEncoding } from './deflate.ts'
import { guardWindow } from './channel-window.ts'
import { ErrorCode, fromFramingError, KorvChannelWindowError, KorvClosedError, KorvSlowReaderError } from './errors.ts'
import type { KorvBadMessageError, KorvError, KorvRejection } from './errors.ts'
import { checkResult } from './handler.ts'
import { PacketQueue } from './packet-queue.ts'
import type { PeerInfo } from '@proto/framing'
import { channels } from './diagnostics.ts'
import type { KorvRequestInfo } from './diagnostics.ts'
import type { KorvConnection, KorvContext, KorvHandler } from './types.ts'

/** What a channel needs from its SSH connection and server. */
export interface DispatchHost {
  readonly limits: KorvLimits
  readonly encoding: MessageEncoding
  readonly exposeErrors: boolean
  readonly closing: boolean
  readonly remote: PeerInfo
  readonly connection: KorvConnection
  readonly username: string
  readonly key: KorvContext['key']
  route(verb: KorvVerb, resource: string): KorvHandler | undefined
  /** Takes one of the connection's `maxInFlight` slots: true at once, else a promise (false if the connection ended). */
  acquire(): true | Promise<boolean>
  release(): void
  touch(): void
  /** Corks the connection until the current tick ends (TickCork). */
  holdWrites(): void
  clientError(err: KorvError): void
  /** Reply bytes waiting for the peer on the whole connection: its channels and its socket. */
  queuedReplyBytes(): number
  /** Reports `err` and ends the whole SSH connection. */
  fail(err: KorvError): void
  handlerError(err: unknown, ctx: KorvContext): void
}

const now = (): number => Date.now() / 1000

/**
 * One `direct-tcpip` channel on the server: decodes messages packet by packet, answers the
 * checks of spec §1.5, runs handlers concurrently and writes each reply as it completes.
 */
export class ChannelDispatcher {
  #host: DispatchHost
  #channel: ServerChannel
  #decoder: GzipMemberDecoder
  // The decoder is asynchronous; packets and EOF (null) go through it one at a time, in order.
  readonly #packets: PacketQueue<Buffer | null>
  #abort = new AbortController()
  #running = 0
  #eof = false
  #stopped = false
  // Resolves once this channel's waiting replies fall below maxChannelReplyBytes.
  #flushed: (() => void) | undefined
  readonly #onFlush = (): void => {
    if (this.#flushed !== undefined && (this.#stopped || this.#channel.writableLength < this.#host.limits.maxChannelReplyBytes)) {
      this.#flushed()
      this.#flushed = undefined
    }
  }

  constructor(host: DispatchHost, channel: ServerChannel) {
    this.#host = host
    this.#channel = channel
    this.#decoder = createMessageDecoder(host.limits)
    guardWindow(channel, {
      overrun: (window) => host.fail(new KorvChannelWindowError(`channel data ${-window} bytes past the window granted`)),
      overfull: (held, packets) =>
        host.fail(new KorvChannelWindowError(`${packets} unread channel packets hold ${held} bytes: packets far smaller than any message`)),
    })
    // 'data' gives one SSH packet at a time; read() would join them, and after a bad packet
    // decoding restarts at the next packet boundary.
    this.#packets = new PacketQueue(channel, (packet) => (packet === null ? this.#onEof() : this.#onPacket(packet)), () => !this.#stopped)
    channel.on('data', (chunk: Buffer) => this.#packets.push(chunk))
    channel.on('end', () => this.#packets.push(null))
    channel.on('close', () => {
      this.#stopped = true
      this.#onFlush()
      this.#abort.abort(new KorvClosedError('channel closed'))
    })
    // Write failures surface as 'close'; the connection reports what went wrong.
    channel.on('error', () => {})
  }

  get open(): boolean {
    return !this.#stopped
  }

  /** Reply bytes this channel holds until the peer's window lets them out. */
  get queuedReplyBytes(): number {
    return this.#channel.writableLength
  }

  async #onPacket(chunk: Buffer): Promise<void> {
    this.#host.touch()
    if (this.#stopped) return
    await this.#decodePacket(chunk)
    // Replies the peer does not read stop our reading too.
    if (!this.#stopped && this.#channel.writableLength >= this.#host.limits.maxChannelReplyBytes) {
      await new Promise<void>((resolve) => (this.#flushed = resolve))
    }
  }

  async #decodePacket(chunk: Buffer): Promise<void> {
    let frames: Buffer[] = []
    let fault: unknown
    try {
      frames = await this.#decoder.push(chunk)
      fault = this.#decoder.error
    } catch (err) {
      fault = err
    }
    for (const frame of frames) {
      const slot = this.#host.acquire()
      if (slot !== true && !(await slot)) return
      if (this.#stopped) {
        this.#host.release()
        return
      }
      this.#onMessage(frame)
    }
    if (fault === undefined) return
    const err = fromFramingError(fault)
    this.#publishRefused(unreadRequest(0), err)
    if (err.code === ErrorCode.MESSAGE_TOO_LARGE) {
      this.#send({ request_id: 0, code: 400, body: { message: 'Message too large' } })
      this.#host.clientError(err)
      this.#stop()
      return
    }
    this.#send({ request_id: 0, code: 400, body: { message: 'Unable to process request' } })
    // The rest of this packet is lost; the next one starts a new message.
    this.#decoder = createMessageDecoder(this.#host.limits)
  }

  async #onEof(): Promise<void> {
    if (this.#stopped) return
    try {
      for (const frame of await this.#decoder.end()) {
        const slot = this.#host.acquire()
        if (slot !== true && !(await slot)) return
        this.#onMessage(frame)
      }
    } catch {
      // A message cut off by EOF is dropped (spec §4).
    }
    this.#eof = true
    if (this.#running === 0) this.#stop()
  }

  /** Ends our side: EOF and close after what is already written. */
  #stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    // Whatever the peer still sends stays in ssh2, within the channel window, unread.
    this.#channel.pause()
    this.#channel.end()
  }

  #onMessage(frame: Buffer): void {
    let request: KorvRequest
    try {
      request = parseRequest(frame)
    } catch (err) {
      this.#host.release()
      const reply = (err as KorvBadMessageError).reply ?? { request_id: 0, code: 400, body: { message: 'Unable to process request' } }
      this.#publishRefused(unreadRequest(reply.request_id), err)
      this.#send(reply)
      return
    }
    const info: KorvRequestInfo = { verb: request.verb, resource: request.resource, id: request.id }
    if (this.#host.closing) {
      this.#host.release()
      info.code = 500
      this.#publishRefused(info, new KorvClosedError('the server is closing'))
      this.#send({ request_id: request.id, code: 500, body: { message: 'closing' } })
      return
    }
    const handler = this.#host.route(request.verb, request.resource)
    const host = this.#host
    if (handler === undefined) {
      host.release()
      info.code = 404
      // A reply of the protocol's own, like a handler's 404: request:end, not request:error.
      this.#publish(channels.requestStart, info)
      this.#publish(channels.requestEnd, info)
      this.#send({ request_id: request.id, code: 404, body: null })
      return
    }
    const ctx: KorvContext = {
      remote: host.remote,
      signal: this.#abort.signal,
      connection: host.connection,
      username: host.username,
      key: host.key,
    }
    this.#publish(channels.requestStart, info)
    this.#running++
    void this.#run(handler, request, ctx, info).finally(() => {
      this.#running--
      host.release()
      if (this.#eof && this.#running === 0) this.#stop()
    })
  }

  async #run(handler: KorvHandler, request: KorvRequest, ctx: KorvContext, info: KorvRequestInfo): Promise<void> {
    let reply: Uint8Array
    try {
      const { code, body } = checkResult(await handler(request, ctx))
      reply = encodeChecked({ id: now(), request_id: request.id, code, body }, this.#host.encoding)
      info.code = code
    } catch (err) {
      this.#host.handlerError(err, ctx)
      info.code = 500
      this.#publishError(info, err)
      this.#sendFailure(request.id, err)
      return
    }
    const unsent = this.#write(reply)
    if (unsent === undefined) this.#publish(channels.requestEnd, info)
    else this.#publishError(info, unsent)
  }

  #publish(channel: typeof channels.requestStart, request: KorvRequestInfo): void {
    if (channel.hasSubscribers) channel.publish({ side: 'server', remote: this.#host.remote, connection: this.#host.connection, request })
  }

  #publishError(request: KorvRequestInfo, error: unknown): void {
    if (channels.requestError.hasSubscribers) {
      channels.requestError.publish({ side: 'server', remote: this.#host.remote, connection: this.#host.connection, request, error })
    }
  }

  /** A message the server answers itself without a handler: `request:start`, then `request:error`. */
  #publishRefused(request: KorvRequestInfo, error: unknown): void {
    this.#publish(channels.requestStart, request)
    this.#publishError(request, error)
  }

  /** A 500: the handler's message only from an error marked `expose: true`, its stack only with `exposeErrors`. */
  #sendFailure(requestId: unknown, err: unknown): void {
    const body: { message: string; traceback?: string } = { message: isPublic(err) ? describe(err) : 'internal error' }
    if (this.#host.exposeErrors) body.traceback = err instanceof Error && typeof err.stack === 'string' ? err.stack : describe(err)
    this.#send({ request_id: requestId, code: 500, body })
  }

  #send(reply: KorvRejection | { request_id: unknown; code: number; body: unknown }): void {
    let bytes: Uint8Array
    try {
      bytes = encodeChecked({ id: now(), request_id: reply.request_id, code: reply.code, body: reply.body }, this.#host.encoding)
    } catch {
      // An echoed id or an error message too large to send: answer without them.
      bytes = encodeChecked(
        { id: now(), request_id: 0, code: reply.code, body: { message: 'Reply too large' } },
        this.#host.encoding,
      )
    }
    this.#write(bytes)
  }

  /** Queues a reply; returns why it was not, for diagnostics. */
  #write(bytes: Uint8Array): KorvError | undefined {
    const channel = this.#channel
    // After our EOF or the peer's close, a late reply has nowhere to go.
    if (this.#stopped || channel.writableEnded || channel.destroyed) return new KorvClosedError('the channel closed before the reply was sent')
    const limit = this.#host.limits.maxConnectionReplyBytes
    if (this.#host.queuedReplyBytes() + bytes.length > limit) {
      const err = new KorvSlowReaderError(`replies waiting for the peer would pass maxConnectionReplyBytes ${limit}`)
      this.#host.fail(err)
      return err
    }
    this.#host.holdWrites()
    channel.write(bytes, this.#onFlush)
    return undefined
  }
}

/** What diagnostics say of a message refused as bad: a 400 echoing `id`, with no verb or resource to name. */
function unreadRequest(id: unknown): KorvRequestInfo {
  return { verb: '', resource: '', id, code: 400 }
}

/** The `http-errors` convention: only an error that says so may show its message to the peer. */
function isPublic(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { expose?: unknown }).expose === true
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message
  try {
    return String(err)
  } catch {
    return 'handler failed'
  }
}
