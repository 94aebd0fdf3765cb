// What a handler receives: the request, and its context with the connection and an abort signal.
import { toText } from '@proto/framing'
import type { PeerInfo } from '@proto/framing'
import type { KarpRequestFrame } from './frame.ts'
import type { KarpConnection, KarpContext, KarpRequest } from './types.ts'

/** One incoming request, made from its decoded frame. */
export class Request implements KarpRequest {
  readonly route: string
  readonly id: string
  readonly data: Uint8Array
  readonly wantsReply: boolean

  constructor(frame: KarpRequestFrame) {
    this.route = frame.route
    this.id = frame.id
    this.data = frame.data
    this.wantsReply = frame.wantsReply
  }

  get text(): string {
    return toText(this.data)
  }
}

/** A running handler's context; the connection aborts it when it goes away first. */
export class Context implements KarpContext {
  readonly request: Request
  readonly connection: KarpConnection
  // Most handlers never look at their signal, so the controller is made on first use.
  #controller: AbortController | undefined
  #aborted = false
  #reason: unknown

  constructor(request: Request, connection: KarpConnection) {
    this.request = request
    this.connection = connection
  }

  get remote(): PeerInfo {
    return this.connection.remote
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }

  /** Aborts `ctx`'s signal, now or whenever the handler first asks for it; static, so handlers cannot. */
  static abort(ctx: Context, reason: unknown): void {
    if (ctx.#aborted) return
    ctx.#aborted = true
    ctx.#reason = reason
    ctx.#controller?.abort(reason)
  }
}
