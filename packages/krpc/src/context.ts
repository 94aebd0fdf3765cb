// The context of a call: what a method and the hook see, and `currentCall()` that finds it.
import { AsyncLocalStorage } from 'node:async_hooks'
import type { IncomingMessage } from 'node:http'
import { UsageError } from '@proto/framing'
import type { PeerInfo } from '@proto/framing'
import type { KrpcConnection, KrpcContext } from './types.ts'

/** Where a context gets its signal: the exchange, which makes it only when first asked. */
export interface SignalSource {
  signal(): AbortSignal
}

/**
 * The context a method and the hook see. A class rather than an object literal with a `signal`
 * getter: V8 gives each such literal a hidden class of its own, allocated where the collector
 * only reaches it in a full collection, and through the getter's closure that hidden class kept
 * every request's objects alive until then, which made small calls spend a third of their time in
 * garbage collection.
 */
export class CallContext implements KrpcContext {
  readonly method: string
  readonly pmhparams: unknown
  readonly connection: KrpcConnection
  readonly request: IncomingMessage
  readonly #source: SignalSource

  constructor(source: SignalSource, method: string, pmhparams: unknown, connection: KrpcConnection, request: IncomingMessage) {
    this.#source = source
    this.method = method
    this.pmhparams = pmhparams
    this.connection = connection
    this.request = request
  }

  get remote(): PeerInfo {
    return this.connection.remote
  }

  get signal(): AbortSignal {
    return this.#source.signal()
  }
}

export const callStorage = new AsyncLocalStorage<KrpcContext>()

/**
 * The context of the call being served, from inside a method or the pre-method hook (and
 * whatever they await).
 * @throws {UsageError} outside a call
 */
export function currentCall(): KrpcContext {
  const ctx = callStorage.getStore()
  if (ctx === undefined) throw new UsageError('currentCall() is only available while a KRPC method or hook runs')
  return ctx
}
