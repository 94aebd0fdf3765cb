// korv's defaults, its verbs, and the shapes of its limits and compression options.
/** The port the original korv server listens on. */
export const DEFAULT_PORT = 8022
export const DEFAULT_HOST = '127.0.0.1'
/** The username our client sends; servers ignore it, as the original does. */
export const DEFAULT_USERNAME = 'korv'

/** The four verbs of the protocol, case-sensitive. */
export const VERBS = ['GET', 'STORE', 'UPDATE', 'DELETE'] as const
/** One of the four verbs: `'GET'`, `'STORE'`, `'UPDATE'` or `'DELETE'`. */
export type KorvVerb = (typeof VERBS)[number]

// The original decodes each SSH packet on its own, and ssh2 and asyncssh keep one write up to the
// peer's maximum packet size (32 768) in one packet: a bigger message cannot reach it whole.
/** Default `limits.maxMessageBytes`: the largest gzip member sent or received, in bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 32_768
/** Default `limits.maxJsonBytes`: the most JSON a received member may inflate to, in bytes. */
export const DEFAULT_MAX_JSON_BYTES = 1_048_576
/** Default `limits.maxInFlight`: requests awaiting a reply per connection. */
export const DEFAULT_MAX_IN_FLIGHT = 1024
/** Default `limits.maxChannels`: `direct-tcpip` channels open at once per connection on a server. */
export const DEFAULT_MAX_CHANNELS = 16
/** Reply bytes waiting on one channel past which the server reads no more of its requests. */
export const DEFAULT_MAX_CHANNEL_REPLY_BYTES = 1_048_576
/** Reply bytes waiting on one connection past which the server ends it. */
export const DEFAULT_MAX_CONNECTION_REPLY_BYTES = 4_194_304
/** OpenSSH's `MaxAuthTries`. */
export const DEFAULT_MAX_AUTH_ATTEMPTS = 6
/** Default `limits.maxConnections`: SSH connections a server holds open at once. */
export const DEFAULT_MAX_CONNECTIONS = 1024
/** Default `limits.handshakeTimeout`: milliseconds a server gives a peer to authenticate. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 30_000
/** Default `limits.idleTimeout`: milliseconds without requests or channel data before a server ends a connection. */
export const DEFAULT_IDLE_TIMEOUT = 600_000
/** Each client call's default `timeout`. */
export const DEFAULT_CALL_TIMEOUT = 30_000
/** The zlib level of messages that are deflated. */
export const DEFAULT_COMPRESSION_LEVEL = 1
/** Bytes of JSON from which a message is deflated; shorter ones go in stored blocks. */
export const DEFAULT_COMPRESSION_THRESHOLD = 4096

/**
 * How messages are compressed. Any valid deflate stream is korv (spec §1.2): each message is
 * either stored (the JSON as it is, in stored deflate blocks) or deflated by zlib.
 */
export interface KorvCompressionOptions {
  /**
   * The zlib level, 1 (fastest) to 9 (smallest), of messages of `threshold` bytes of JSON or
   * more. 0 stores every message; one that would not fit `maxMessageBytes` stored is deflated at
   * level 1. @default 1
   */
  level?: number | undefined
  /** Bytes of JSON below which a message is stored, not deflated. @default 4096 */
  threshold?: number | undefined
}

/** Every size, count and time limit of a korv server; a client takes the first three and `handshakeTimeout`. */
export interface KorvLimits {
  /** Largest gzip member sent or received, in bytes. @default 32_768 */
  maxMessageBytes: number
  /** Largest JSON text a member may inflate to, in bytes. @default 1_048_576 */
  maxJsonBytes: number
  /** Requests awaiting a reply per connection (server: reads pause; client: calls fail). @default 1024 */
  maxInFlight: number
  /** `direct-tcpip` channels open at once per connection. @default 16 */
  maxChannels: number
  /**
   * Reply bytes waiting for the peer on one channel (beyond the SSH window it granted) from which
   * the server reads no more requests on that channel until they drain. @default 1_048_576
   */
  maxChannelReplyBytes: number
  /**
   * Reply bytes waiting for the peer on one connection (its channels and its socket) that a new
   * reply may not pass: the connection ends with `ERR_KORV_SLOW_READER`. @default 4_194_304
   */
  maxConnectionReplyBytes: number
  /** Rejected authentication requests before the connection is ended. @default 6 */
  maxAuthAttempts: number
  /** SSH connections open at once. @default 1024 */
  maxConnections: number
  /** Milliseconds for the server until auth, or for all of the client's `connect()`. @default 30_000 */
  handshakeTimeout: number
  /** Milliseconds without requests or channel data before the server ends a connection; 0 is off. @default 600_000 */
  idleTimeout: number
}

/** Every limit's default, as a server uses it when `limits` leaves it out (a client uses its own three). */
export const DEFAULT_LIMITS: Readonly<KorvLimits> = {
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxJsonBytes: DEFAULT_MAX_JSON_BYTES,
  maxInFlight: DEFAULT_MAX_IN_FLIGHT,
  maxChannels: DEFAULT_MAX_CHANNELS,
  maxChannelReplyBytes: DEFAULT_MAX_CHANNEL_REPLY_BYTES,
  maxConnectionReplyBytes: DEFAULT_MAX_CONNECTION_REPLY_BYTES,
  maxAuthAttempts: DEFAULT_MAX_AUTH_ATTEMPTS,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT,
  idleTimeout: DEFAULT_IDLE_TIMEOUT,
}
