// The node:diagnostics_channel channels every package publishes on, and the shapes of their messages.
import dc from 'node:diagnostics_channel'
import type { ListenAddress } from './address.ts'
import { UsageError } from './errors.ts'
import type { PeerInfo } from './peer-info.ts'

/** Which end of a connection published a message. */
export type Side = 'client' | 'server'

/** On `proto:<pkg>:server:listening`, once a server listens. */
export interface ServerListeningMessage<S = unknown> {
  readonly side: 'server'
  /** The package's server object. */
  readonly server: S
  readonly address: ListenAddress
}

/** On `proto:<pkg>:connection:open`, once a connection is ready for requests. */
export interface ConnectionOpenMessage<C = unknown> {
  readonly side: Side
  readonly remote: PeerInfo
  /** The package's connection object, the same one on every message about this connection. */
  readonly connection: C
}

/** On `proto:<pkg>:connection:close`, once a connection is gone; `error` says why, when it did not end cleanly. */
export interface ConnectionCloseMessage<C = unknown> extends ConnectionOpenMessage<C> {
  readonly error?: unknown
}

/** On `proto:<pkg>:request:start` and `proto:<pkg>:request:end`: one request of the protocol (a call, a frame, a command). */
export interface RequestMessage<C = unknown, R = unknown> {
  readonly side: Side
  readonly remote: PeerInfo
  readonly connection: C
  /** The package's description of the request, the same object from start to end or error, so subscribers can pair them. */
  readonly request: R
}

/** On `proto:<pkg>:request:error`, instead of `request:end`, for a request that failed. */
export interface RequestErrorMessage<C = unknown, R = unknown> extends RequestMessage<C, R> {
  readonly error: unknown
}

/** A diagnostics channel that takes one message shape. A `node:diagnostics_channel` Channel. */
export interface TypedChannel<M> {
  readonly name: string | symbol
  /** Check it before building a message: publishing then costs nothing while nobody listens. */
  readonly hasSubscribers: boolean
  /** Hands `message` to every subscriber, synchronously. */
  publish(message: M): void
}

/** The six channels of one package; `S`, `C` and `R` are its server, connection and request objects. */
export interface DiagnosticsChannels<S = unknown, C = unknown, R = unknown> {
  /** `proto:<pkg>:server:listening` */
  readonly serverListening: TypedChannel<ServerListeningMessage<S>>
  /** `proto:<pkg>:connection:open` */
  readonly connectionOpen: TypedChannel<ConnectionOpenMessage<C>>
  /** `proto:<pkg>:connection:close` */
  readonly connectionClose: TypedChannel<ConnectionCloseMessage<C>>
  /** `proto:<pkg>:request:start` */
  readonly requestStart: TypedChannel<RequestMessage<C, R>>
  /** `proto:<pkg>:request:end` */
  readonly requestEnd: TypedChannel<RequestMessage<C, R>>
  /** `proto:<pkg>:request:error` */
  readonly requestError: TypedChannel<RequestErrorMessage<C, R>>
}

/**
 * The channels `proto:<pkg>:server:listening`, `…:connection:open`, `…:connection:close`,
 * `…:request:start`, `…:request:end` and `…:request:error` of a package. Hold the result (at
 * module level): Node keeps a channel only while it is referenced or subscribed to.
 * @param pkg the package's short name, as in `karp`
 * @throws {UsageError} for a name that is not lowercase letters, digits and dashes
 */
export function diagnosticsChannels<S = unknown, C = unknown, R = unknown>(pkg: string): DiagnosticsChannels<S, C, R> {
  if (typeof pkg !== 'string' || !/^[a-z][a-z0-9-]*$/.test(pkg)) {
    throw new UsageError(`a package name for diagnostics channels must be lowercase letters, digits and dashes, got ${String(pkg)}`)
  }
  const channel = (name: string): dc.Channel => dc.channel(`proto:${pkg}:${name}`)
  return {
    serverListening: channel('server:listening'),
    connectionOpen: channel('connection:open'),
    connectionClose: channel('connection:close'),
    requestStart: channel('request:start'),
    requestEnd: channel('request:end'),
    requestError: channel('request:error'),
  }
}
