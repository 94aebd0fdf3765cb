/** Bytes before the LF that a line may hold (oneline's default). */
export const DEFAULT_MAX_LINE_BYTES = 65_536
/** The largest whole frame held in memory; larger fields stream. */
export const DEFAULT_MAX_FRAME_BYTES = 16_777_216
/** Compressed bytes of one gzip member, matching the output limit. */
export const DEFAULT_MAX_COMPRESSED_BYTES = 16_777_216
/** The largest buffered `ByteReader.bytes()` read. */
export const DEFAULT_MAX_READ_BYTES = 16_777_216
/** Memory per open field behind `FieldStream.readable()`. */
export const DEFAULT_FIELD_HIGH_WATER_MARK = 65_536
/** Four maximum frames; more queued output means writes are not being awaited. */
export const DEFAULT_MAX_WRITE_BUFFER_BYTES = 67_108_864
/**
 * Bytes a socket reads ahead of a reader that has paused it, on every Node version (Node 22 raised
 * its own default from this to 64 KiB). What read-ahead costs is counted in chunks, not bytes: a
 * peer sending 1-byte segments makes each byte a chunk of some 190 bytes of memory, so a
 * connection whose reader stopped holds about 3 MiB at this mark and four times that at 64 KiB.
 * The TLS sockets a server accepts keep Node's default: node:tls has no way to set theirs. Node
 * sets the write side's mark with the same option, so a `FramedConnection.write()` on these
 * sockets waits for `'drain'` past 16 KiB queued, as on Node 20.
 */
export const SOCKET_HIGH_WATER_MARK = 16_384
/** Milliseconds without a byte before a waiting read fails; 0 turns the clock off. */
export const DEFAULT_IDLE_TIMEOUT = 0
/** Milliseconds a connect, TLS handshake included, may take. */
export const DEFAULT_CONNECT_TIMEOUT = 30_000
/** Connections a server holds open at once, TLS handshakes included. */
export const DEFAULT_MAX_CONNECTIONS = 1024
/** Milliseconds a server waits for a peer's TLS handshake. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000
/** Connections the kernel queues for a listening socket, as Node's own default. */
export const DEFAULT_BACKLOG = 511
/**
 * Bytes a PROXY protocol header may take. v2 allows 16 + 65 535, but the addresses take at most
 * 216 and the TLVs balancers add (ALPN, authority, unique ID, TLS details, endpoint IDs) a few
 * hundred more: a page is ample room, and all a connection may hold before it is admitted.
 */
export const DEFAULT_MAX_PROXY_HEADER_BYTES = 4096
/** Milliseconds for the PROXY protocol header to arrive: three TCP retransmits (1 + 2 + 4 s) and some. */
export const DEFAULT_PROXY_HEADER_TIMEOUT = 10_000
