// The address a server listens on, as `listen()` and `address()` give it.

/** A TCP listening address. */
export interface TcpAddress {
  /** The bound address, as Node reports it (`127.0.0.1`, `::1`, `::`). */
  readonly host: string
  readonly port: number
  readonly family: 'IPv4' | 'IPv6'
  readonly path?: never
}

/** A unix socket listening address. */
export interface PathAddress {
  readonly path: string
  readonly host?: never
  readonly port?: never
  readonly family?: never
}

/** Where a server listens: `{ host, port, family }` or `{ path }`. */
export type ListenAddress = TcpAddress | PathAddress
