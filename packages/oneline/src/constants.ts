// Default values of every option, the default address, and the built-in commands.

/** The port of the original's sample application. */
export const DEFAULT_PORT = 5001
/** The address `listen()` binds and `connect()` dials when given none. */
export const DEFAULT_HOST = '127.0.0.1'

/** Bytes of a received line before its LF, CR included. */
export const DEFAULT_MAX_LINE_BYTES = 65_536
/** Connections waiting for their turn while another client is active. */
export const DEFAULT_MAX_QUEUE = 16
/** What the server does with a connection that arrives while a client is active. */
export const DEFAULT_BUSY = 'queue'
/** Milliseconds the active client may stay silent, or leave a reply untaken; 0 is off, as in the original. */
export const DEFAULT_IDLE_TIMEOUT = 0
/** Milliseconds the client waits in request, send, ping, close and shutdown, and for `pong` in connect. */
export const DEFAULT_TIMEOUT = 3000
/** Received lines no request claims, held for the async iterator before reading pauses. */
export const DEFAULT_MAX_QUEUED_LINES = 1024
export {
  /** Milliseconds `connect()` waits for the connection (TLS handshake included): framing's default, 30 000. */
  DEFAULT_CONNECT_TIMEOUT,
  /** Connections a server holds open at once, TLS handshakes and PROXY headers included: framing's default, 1024. */
  DEFAULT_MAX_CONNECTIONS,
  /** Bytes a connection may hold unsent before a write fails: framing's default, 64 MiB. */
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
} from '@proto/framing'

/** Built-in commands, matched exactly and case-sensitively. */
export const Command = {
  PING: 'ping',
  DISCONNECT: 'disconnect',
  SHUTDOWN: 'shutdown',
} as const
/** The server's answer to `ping`. */
export const PONG = 'pong'
