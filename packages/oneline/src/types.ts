// The public types several files share: handlers, their context, connections, limits and the diagnostics' request.
import type { PeerInfo } from '@proto/framing'

/** One line, several lines, or none. */
export type OnelineReply = string | string[] | void

/** Answers one command: `(command, ctx)`, the command's text first and its context last. */
export type OnelineHandler = (command: string, ctx: OnelineContext) => OnelineReply | Promise<OnelineReply>

/** Where a server's client stands: waiting for its turn, being served, or gone. */
export type OnelineConnectionState = 'queued' | 'active' | 'closed'

/**
 * A client of a server, from admission until it is gone: first waiting in the queue (or served at
 * once), then active. It satisfies `PeerInfo` itself, so it can stand wherever a peer is reported.
 */
export interface OnelineConnection extends PeerInfo {
  /** Who the client is: the PROXY header's client when `proxyProtocol` is on, else the socket's peer. */
  readonly remote: PeerInfo
  /** `'queued'` while it waits for its turn, `'active'` while it is served, `'closed'` once it is gone. */
  readonly state: OnelineConnectionState
  /** Resolves, never rejects, once the connection is closed. */
  readonly closed: Promise<void>
}

/** What a handler receives with each command. */
export interface OnelineContext {
  /** The command bytes were not valid UTF-8 (the text then carries U+FFFD). */
  readonly invalid: boolean
  /** Exact command bytes, LF removed (CR kept unless `stripCR`). */
  readonly raw: Uint8Array
  /** Aborts when the client goes away. */
  readonly signal: AbortSignal
  /** Who sent the command: the connection's `remote`. */
  readonly remote: PeerInfo
  /** The client's connection. */
  readonly connection: OnelineConnection
  /**
   * Writes one line now; only while the handler runs.
   * @throws {OnelineUnpromptedError} once the handler has settled
   * @throws {OnelineInvalidLineError} for a line that holds LF
   */
  send(line: string): void
}

/** What a server holds for its clients, and for how long; each a finite limit. */
export interface OnelineLimits {
  /**
   * Connections open at once, TLS handshakes and PROXY headers included; one more is closed
   * before any work and reported as `ERR_ONELINE_TOO_MANY_CONNECTIONS`. The queue has its own,
   * smaller limit.
   * @default 1024
   */
  maxConnections?: number | undefined
  /** Connections that may wait for their turn while a client is active. @default 16 */
  maxQueue?: number | undefined
  /** Bytes of a command before its LF, CR included; also what is read ahead from a waiting client. @default 65_536 */
  maxLineBytes?: number | undefined
  /**
   * Milliseconds the active client may stay silent, or leave a reply untaken; 0 is off, as in the
   * original.
   * @default 0
   */
  idleTimeout?: number | undefined
  /** Unsent bytes held for one client before it is closed and reported. @default 67_108_864 */
  maxWriteBufferBytes?: number | undefined
}

/** What a client holds of what its server sends; each a finite limit. */
export interface OnelineClientLimits {
  /** Bytes of a received line before its LF, CR included. @default 65_536 */
  maxLineBytes?: number | undefined
  /** Received lines no request claims, kept for the async iterator; beyond this, reading pauses. @default 1024 */
  maxQueuedLines?: number | undefined
  /** Unsent bytes held before a call fails with `ERR_PROTO_WRITE_BUFFER_FULL`. @default 67_108_864 */
  maxWriteBufferBytes?: number | undefined
}

/**
 * The `request` of oneline's diagnostics messages: one command, the same object from
 * `request:start` to `request:end` or `request:error`.
 */
export interface OnelineCommandInfo {
  /** The command's text. */
  readonly command: string
  /** Server side: the bytes were not valid UTF-8. Client side: `false`. */
  readonly invalid: boolean
  /** Client side: the lines the request waits for (0 for `send`). Server side: `undefined`. */
  readonly lines: number | undefined
}
