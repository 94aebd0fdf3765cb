// The default of every karp option, and the port its tools use.

/** The port `karp serve` and `connect()` use when none is given. The original has none. */
export const DEFAULT_PORT = 7755
/** The host servers bind and clients reach when none is given. */
export const DEFAULT_HOST = '127.0.0.1'
/** The largest frame, LF included, sent or accepted. */
export const DEFAULT_MAX_FRAME_BYTES = 16_777_216
/** Handlers running per connection, and requests awaiting a reply per connection. */
export const DEFAULT_MAX_IN_FLIGHT = 1024
/** Milliseconds a `request()` waits for its reply, and a `notify()` for room to write. */
export const DEFAULT_TIMEOUT = 30_000
/** Milliseconds `connect()` waits for the connection, TLS handshake included (framing's default). */
export const DEFAULT_CONNECT_TIMEOUT = 30_000
/** Initial delay of TCP keep-alive probes in milliseconds. */
export const DEFAULT_KEEP_ALIVE = 60_000
/** Output queued per connection before writes are refused (framing's default). */
export const DEFAULT_MAX_WRITE_BUFFER_BYTES = 67_108_864
/** Milliseconds a connection may stay silent with nothing in flight; 0 is off, as in the original. */
export const DEFAULT_IDLE_TIMEOUT = 0
/** Connections a server holds open at once. */
export const DEFAULT_MAX_CONNECTIONS = 1024
/** Milliseconds a TLS handshake may take on a server (framing's default). */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000
