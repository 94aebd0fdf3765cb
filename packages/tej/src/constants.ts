// The defaults of every option and the fixed values of the wire format.
export { DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT } from '@proto/framing'

/** The port of the original's example scripts. */
export const DEFAULT_PORT = 8000
/** Where `listen()` and `connect()` go when no host is given. */
export const DEFAULT_HOST = '127.0.0.1'

/** The only version this package writes or accepts. */
export const PROTOCOL_VERSION = 1
/** The status reserved for keep-alive pings. */
export const PING_STATUS = 2
/** Bit 7 of the status byte, which every frame sets. */
export const STATUS_BIT = 0x80
/** The largest status: bits 0–6. */
export const MAX_STATUS = 0x7f
/** The largest name a u16 length field can describe. */
export const MAX_WIRE_NAME_BYTES = 65_535

/** Files per frame. */
export const DEFAULT_MAX_FILES = 1024
/** UTF-8 bytes per file name. */
export const DEFAULT_MAX_NAME_BYTES = 4096
/** Bytes per file: files stream, so only the 2^53 − 1 ceiling of a safe integer applies. */
export const DEFAULT_MAX_FILE_BYTES = Number.MAX_SAFE_INTEGER
/** Bytes of one message, which is held in memory whole. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16_777_216
/** Bytes `buffer()`/`bytes()` and pings may hold. */
export const DEFAULT_MAX_BUFFERED_BYTES = 67_108_864
/** Milliseconds without a received byte before the connection closes; 0 is off, as in the original. */
export const DEFAULT_IDLE_TIMEOUT = 0
/**
 * Milliseconds one write of a frame being sent may wait for the peer to take its bytes before the
 * send fails and the connection ends; 0 is off.
 */
export const DEFAULT_STALL_TIMEOUT = 30_000
/** Milliseconds between keep-alive pings; 0 is off. */
export const DEFAULT_PING_INTERVAL = 0
/** Open connections per server. */
export const DEFAULT_MAX_CONNECTIONS = 1024
/**
 * Milliseconds a `send()` may take when neither the call nor the connection sets a `timeout`:
 * none, as in the original, since a frame may carry a file of any size. A peer that stops reading
 * is bounded by `limits.stallTimeout` instead.
 */
export const DEFAULT_TIMEOUT = Number.POSITIVE_INFINITY

/**
 * In-memory data goes out in writes of at most this many bytes: framing refuses a single write
 * over its `maxWriteBufferBytes`, and smaller slices keep the queued output short.
 */
export const WRITE_SLICE_BYTES = 1_048_576
/** Read size for `{ path }` sources. */
export const FILE_READ_BYTES = 262_144
