import { AsyncLocalStorage } from 'node:async_hooks'
import type { IncomingMessage } from 'node:http'
import { UsageError } from '@proto/framing'

/** Where a request came from. */
export interface PeerInfo {
  address: string
  port: number
}

/** What the pre-method hook and the method know about the call they serve. */
export interface KrpcContext {
  /** The method name as the call gave it (`''` when it gave no string). */
  readonly method: string
  /** The call's `pmhparams`, `undefined` when it has none. */
  readonly pmhparams: unknown
  /** Aborts when the peer goes away or the request breaks a limit; `reason` says which. */
  readonly signal: AbortSignal
  readonly peer: PeerInfo
  readonly request: IncomingMessage
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
