// The errors korv raises, their codes, and how framing's errors become korv's.
import { ConnectError, ListenError, ProtoError, ProxyHeaderError, TimeoutError, TlsHandshakeError, TooManyConnectionsError } from '@proto/framing'
import type { PlumbingErrors, ProxyHeaderFailure } from '@proto/framing'

/** Every `ERR_KORV_*` code. Match on `err.code`: `instanceof` fails across two installed copies. */
export const ErrorCode = {
  REMOTE: 'ERR_KORV_REMOTE',
  BAD_MESSAGE: 'ERR_KORV_BAD_MESSAGE',
  UNKNOWN_VERB: 'ERR_KORV_UNKNOWN_VERB',
  BAD_HANDLER_RESULT: 'ERR_KORV_BAD_HANDLER_RESULT',
  UNSERIALIZABLE: 'ERR_KORV_UNSERIALIZABLE',
  HOST_KEY: 'ERR_KORV_HOST_KEY',
  AUTH_FAILED: 'ERR_KORV_AUTH_FAILED',
  CHANNEL_REFUSED: 'ERR_KORV_CHANNEL_REFUSED',
  CHANNEL_WINDOW: 'ERR_KORV_CHANNEL_WINDOW',
  SLOW_READER: 'ERR_KORV_SLOW_READER',
  BAD_KEY: 'ERR_KORV_BAD_KEY',
  BAD_KEY_LINE: 'ERR_KORV_BAD_KEY_LINE',
  MESSAGE_TOO_LARGE: 'ERR_KORV_MESSAGE_TOO_LARGE',
  TOO_MANY_IN_FLIGHT: 'ERR_KORV_TOO_MANY_IN_FLIGHT',
  TOO_MANY_CHANNELS: 'ERR_KORV_TOO_MANY_CHANNELS',
  TOO_MANY_CONNECTIONS: 'ERR_KORV_TOO_MANY_CONNECTIONS',
  HANDSHAKE_TIMEOUT: 'ERR_KORV_HANDSHAKE_TIMEOUT',
  TIMEOUT: 'ERR_KORV_TIMEOUT',
  LISTEN: 'ERR_KORV_LISTEN',
  PROXY_HEADER: 'ERR_KORV_PROXY_HEADER',
  IDLE_TIMEOUT: 'ERR_KORV_IDLE_TIMEOUT',
  CLOSED: 'ERR_KORV_CLOSED',
  CONNECT: 'ERR_KORV_CONNECT',
} as const
/** One of korv's codes: the `code` of every error korv raises. */
export type KorvErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** What a server answers to a request it rejects before any handler runs (spec §1.5). */
export interface KorvRejection {
  request_id: unknown
  code: number
  body: { message: string }
}

/**
 * The base of korv's protocol errors, each with a stable `code`. The errors of connecting,
 * listening and admission (`KorvTimeoutError`, `KorvConnectError`, `KorvListenError`,
 * `KorvTooManyConnectionsError`, `KorvProxyHeaderError`) extend framing's classes of the same job
 * instead, with korv's codes.
 */
export abstract class KorvError extends ProtoError {
  override name = 'KorvError'
  declare readonly code: KorvErrorCode
}

/**
 * `ERR_KORV_REMOTE`: the server answered 400 or more to `get`, `store`, `update` or `delete`
 * (`request()` resolves for every code). The message is the body's `message` when it has one.
 */
export class RemoteError extends KorvError {
  override name = 'RemoteError'
  override readonly code = ErrorCode.REMOTE
  /** The reply's `code`. */
  readonly status: number
  /** The reply's `body`. */
  readonly body: unknown
  constructor(status: number, body: unknown) {
    const message =
      typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string'
        ? (body as { message: string }).message
        : `korv ${status}`
    super(message)
    this.status = status
    this.body = body
  }
}

/**
 * `ERR_KORV_BAD_MESSAGE`: a message that is not a gzip member of UTF-8 JSON, that ends inside a
 * member, or a request `parseRequest()` rejects (spec §1.5, `reply` set), or a reply without a
 * `request_id` or with a `code` that is not an integer.
 */
export class KorvBadMessageError extends KorvError {
  override name = 'KorvBadMessageError'
  override readonly code = ErrorCode.BAD_MESSAGE
  /** The reply a server sends for this message, when it is a §1.5 rejection. */
  readonly reply: KorvRejection | undefined
  constructor(message: string, options?: ErrorOptions & { reply?: KorvRejection }) {
    super(message, options)
    this.reply = options?.reply
  }
}

/**
 * `ERR_KORV_UNKNOWN_VERB`: a verb other than `GET`, `STORE`, `UPDATE` and `DELETE`, given to
 * `server.handle()`, in `handlers`, or to `client.request()`.
 */
export class KorvUnknownVerbError extends KorvError {
  override name = 'KorvUnknownVerbError'
  override readonly code = ErrorCode.UNKNOWN_VERB
  /** The verb as it was given. */
  readonly verb: unknown
  constructor(verb: unknown) {
    super(`unknown verb ${JSON.stringify(verb) ?? String(verb)}: use GET, STORE, UPDATE or DELETE`)
    this.verb = verb
  }
}

/**
 * `ERR_KORV_BAD_HANDLER_RESULT`: a handler returned something other than nothing or
 * `{ code, body? }` with `code` an integer from 100 to 599. The peer gets a 500; the server emits
 * `handlerError`.
 */
export class KorvBadHandlerResultError extends KorvError {
  override name = 'KorvBadHandlerResultError'
  override readonly code = ErrorCode.BAD_HANDLER_RESULT
}

/** `ERR_KORV_UNSERIALIZABLE`: a body `JSON.stringify` throws on or turns into nothing (a function, `undefined`). */
export class KorvUnserializableError extends KorvError {
  override name = 'KorvUnserializableError'
  override readonly code = ErrorCode.UNSERIALIZABLE
}

/**
 * `ERR_KORV_HOST_KEY`: `connect()` does not trust the server's host key (not in `knownHosts`, not
 * one of `hostKeyFingerprint`, or revoked); raised before the client authenticates.
 */
export class KorvHostKeyError extends KorvError {
  override name = 'KorvHostKeyError'
  override readonly code = ErrorCode.HOST_KEY
  /** `SHA256:` fingerprint of the key the server showed. */
  readonly fingerprint: string
  constructor(host: string, fingerprint: string, options?: ErrorOptions) {
    super(`host key ${fingerprint} of ${host} is not trusted`, options)
    this.fingerprint = fingerprint
  }
}

/**
 * `ERR_KORV_AUTH_FAILED`: authentication failed. On the client, the server refused its key; on
 * the server (`clientError`), a peer reached `limits.maxAuthAttempts` or left after its keys were
 * refused.
 */
export class KorvAuthFailedError extends KorvError {
  override name = 'KorvAuthFailedError'
  override readonly code = ErrorCode.AUTH_FAILED
}

/**
 * `ERR_KORV_CHANNEL_REFUSED`: the `direct-tcpip` channel was refused. On the client, the server
 * refused it; on the server (`clientError`), the key's authorized_keys line does not permit a
 * channel to the destination asked for.
 */
export class KorvChannelRefusedError extends KorvError {
  override name = 'KorvChannelRefusedError'
  override readonly code = ErrorCode.CHANNEL_REFUSED
}

/**
 * `ERR_KORV_CHANNEL_WINDOW`: a peer sent more channel data than the window the server granted,
 * plus one packet, or its unread packets reached 16 MiB; the connection ends.
 */
export class KorvChannelWindowError extends KorvError {
  override name = 'KorvChannelWindowError'
  override readonly code = ErrorCode.CHANNEL_WINDOW
}

/**
 * `ERR_KORV_SLOW_READER`: replies waiting for a peer that does not read would pass
 * `limits.maxConnectionReplyBytes`; the server ends the connection.
 */
export class KorvSlowReaderError extends KorvError {
  override name = 'KorvSlowReaderError'
  override readonly code = ErrorCode.SLOW_READER
}

/**
 * `ERR_KORV_BAD_KEY`: a key or key file that cannot be read: a missing or unreadable `{ path }`,
 * text that is not a key, a public key where a private one is needed, or a wrong passphrase.
 */
export class KorvBadKeyError extends KorvError {
  override name = 'KorvBadKeyError'
  override readonly code = ErrorCode.BAD_KEY
}

/**
 * `ERR_KORV_BAD_KEY_LINE`: a line of authorized_keys or known_hosts that was skipped; the server
 * emits one `authorizedKeysError` per skipped authorized_keys line.
 */
export class KorvBadKeyLineError extends KorvError {
  override name = 'KorvBadKeyLineError'
  override readonly code = ErrorCode.BAD_KEY_LINE
  /** 1-based line number. */
  readonly line: number
  constructor(line: number, reason: string) {
    super(`line ${line} skipped: ${reason}`)
    this.line = line
  }
}

/**
 * `ERR_KORV_MESSAGE_TOO_LARGE`: a message past `limits.maxMessageBytes` (gzip bytes) or
 * `limits.maxJsonBytes` (JSON it inflates to), received, or refused before it is sent.
 */
export class KorvMessageTooLargeError extends KorvError {
  override name = 'KorvMessageTooLargeError'
  override readonly code = ErrorCode.MESSAGE_TOO_LARGE
  /** The message's size in bytes, when it is known. */
  readonly size: number | undefined
  /** The limit it passed, in bytes, when it is known. */
  readonly limit: number | undefined
  constructor(message: string, options?: ErrorOptions & { size?: number; limit?: number }) {
    super(message, options)
    this.size = options?.size
    this.limit = options?.limit
  }
}

/** `ERR_KORV_TOO_MANY_IN_FLIGHT`: a client call while `limits.maxInFlight` calls await their reply. */
export class KorvTooManyInFlightError extends KorvError {
  override name = 'KorvTooManyInFlightError'
  override readonly code = ErrorCode.TOO_MANY_IN_FLIGHT
}

/**
 * `ERR_KORV_TOO_MANY_CHANNELS`: a peer opened a channel while `limits.maxChannels` were open on
 * its connection; the channel is refused and the server emits `clientError`.
 */
export class KorvTooManyChannelsError extends KorvError {
  override name = 'KorvTooManyChannelsError'
  override readonly code = ErrorCode.TOO_MANY_CHANNELS
}

/** `ERR_KORV_TOO_MANY_CONNECTIONS`: a connection refused at `limits.maxConnections`, before any per-connection work. */
export class KorvTooManyConnectionsError extends TooManyConnectionsError {
  override name = 'KorvTooManyConnectionsError'
  override readonly code = ErrorCode.TOO_MANY_CONNECTIONS
}

/** `ERR_KORV_HANDSHAKE_TIMEOUT`: a peer was not authenticated within the server's `limits.handshakeTimeout`. */
export class KorvHandshakeTimeoutError extends KorvError {
  override name = 'KorvHandshakeTimeoutError'
  override readonly code = ErrorCode.HANDSHAKE_TIMEOUT
}

/**
 * `ERR_KORV_IDLE_TIMEOUT`: no request or channel data on a connection for `limits.idleTimeout`
 * milliseconds; the server ends it.
 */
export class KorvIdleTimeoutError extends KorvError {
  override name = 'KorvIdleTimeoutError'
  override readonly code = ErrorCode.IDLE_TIMEOUT
}

/**
 * `ERR_KORV_CLOSED`: the connection ended or is closing: a call made on a closed or closing
 * client, or pending when its connection ended; on the server, a connection that failed
 * (`clientError`), and a handler's `ctx.signal` reason when its channel closes. `cause` is what ended it, when something did.
 */
export class KorvClosedError extends KorvError {
  override name = 'KorvClosedError'
  override readonly code = ErrorCode.CLOSED
}

/** `ERR_KORV_CONNECT`: `connect()` could not reach the server or finish the SSH handshake; the message names the target. */
export class KorvConnectError extends ConnectError {
  override name = 'KorvConnectError'
  override readonly code = ErrorCode.CONNECT
}

/**
 * `ERR_KORV_TIMEOUT`: a caller's deadline passed (a call's `timeout`, `connect()`'s
 * `connectTimeout`); the message says what timed out. Its `name` is `TimeoutError`.
 */
export class KorvTimeoutError extends TimeoutError {
  override name = 'TimeoutError'
  override readonly code = ErrorCode.TIMEOUT
}

/** `ERR_KORV_LISTEN`: `listen()` failed, or accepting failed while listening; the message names the address. */
export class KorvListenError extends ListenError {
  override name = 'KorvListenError'
  override readonly code = ErrorCode.LISTEN
}

/** `ERR_KORV_PROXY_HEADER`: a bad, late or missing PROXY protocol header, with `listen({ proxyProtocol })`. */
export class KorvProxyHeaderError extends ProxyHeaderError {
  override name = 'KorvProxyHeaderError'
  override readonly code = ErrorCode.PROXY_HEADER
  constructor(reason: ProxyHeaderFailure, message: string, options?: ErrorOptions) {
    super(reason, message, options)
  }
}

/** The classes framing's connect and listen code makes korv's failures with. korv has no TLS. */
export const KORV_ERRORS: PlumbingErrors = {
  Timeout: KorvTimeoutError,
  Connect: KorvConnectError,
  Listen: KorvListenError,
  TooManyConnections: KorvTooManyConnectionsError,
  TlsHandshake: TlsHandshakeError,
  ProxyHeader: KorvProxyHeaderError,
}

/** Rethrows a framing error from the message decoder under the korv prefix (spec §4). */
export function fromFramingError(err: unknown): KorvError {
  const code = (err as { code?: unknown } | null)?.code
  if (code === 'ERR_PROTO_FRAME_TOO_LARGE' || code === 'ERR_PROTO_BAD_LENGTH') {
    const { size, limit } = err as { size?: unknown; limit?: unknown }
    return new KorvMessageTooLargeError('message too large', {
      cause: err,
      ...(typeof size === 'number' ? { size } : {}),
      ...(typeof limit === 'number' ? { limit } : {}),
    })
  }
  if (code === 'ERR_PROTO_TRUNCATED_FRAME') {
    return new KorvBadMessageError('channel ended inside a message', { cause: err })
  }
  return new KorvBadMessageError('not a gzip member', { cause: err })
}
