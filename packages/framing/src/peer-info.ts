// The address and port of the other end of a connection.
import net from 'node:net'
import type { Duplex } from 'node:stream'

/**
 * Who is at the other end. A peer without an IP address (a unix socket's client, an in-memory
 * stream) has address `''` and port 0; an IPv4 client of a dual-stack listener keeps the form
 * Node reports (`::ffff:127.0.0.1`). Every connection object of a package satisfies it.
 */
export interface PeerInfo {
  /** An IPv4 or IPv6 address as Node writes it; `''` without one, or the path a PROXY header names for a unix socket. */
  readonly address: string
  /** 0 to 65535; 0 without an IP address. */
  readonly port: number
}

/** The remote end of `socket`; read it while the socket is open, as a closed one may no longer know. */
export function peerInfo(socket: Duplex): PeerInfo {
  if (socket instanceof net.Socket) return { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }
  return { address: '', port: 0 }
}
