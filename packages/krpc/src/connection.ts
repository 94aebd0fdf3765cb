// A connection to the server: its socket, its peer, and the requests it has open.
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { PeerInfo } from '@proto/framing'
import type { KrpcConnection } from './types.ts'

/** What a connection tells each of its open requests when it closes. */
export interface OpenRequest {
  socketClosed(): void
}

/**
 * One socket, from admission to close. A peer that pipelines may have any number of requests
 * open on it; one 'close' listener per socket tells them all, and the response in progress is
 * kept so that a late error from Node's parser does not write a second one.
 */
export class Connection implements KrpcConnection {
  readonly remote: PeerInfo
  readonly socket: Socket
  /** It came through the server's own listener, rather than to a handler mounted in another server. */
  readonly listened: boolean
  readonly closed: Promise<void>
  /** Requests not yet done; nearly always one at most. An array, unlike a set, allocates nothing to add and remove one. */
  readonly open: OpenRequest[] = []
  /** The response being written, or last written, on this socket. */
  response: ServerResponse | undefined
  /** Requests it has carried. */
  requests = 0
  #resolveClosed: () => void = noop

  constructor(socket: Socket, remote: PeerInfo, listened: boolean) {
    this.socket = socket
    this.remote = remote
    this.listened = listened
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve
    })
  }

  get address(): string {
    return this.remote.address
  }

  get port(): number {
    return this.remote.port
  }

  /** It has carried no request and sent no byte of one: closing it loses nothing. */
  get unused(): boolean {
    return this.requests === 0 && this.socket.bytesRead === 0
  }

  /** Drops a request that is done. */
  done(request: OpenRequest): void {
    const open = this.open
    const at = open.lastIndexOf(request)
    if (at === open.length - 1) open.pop()
    else if (at !== -1) open.splice(at, 1)
  }

  /** The socket closed: every open request is told, then `closed` resolves. */
  socketClosed(): void {
    // A copy: a request told may finish, and leave the list, at once.
    for (const request of [...this.open]) request.socketClosed()
    this.#resolveClosed()
  }
}

function noop(): void {}
