// Running a call: decode its text, run the hook, find the method, wait for its files, call it, and turn what it gives into a reply.
import type { IncomingMessage } from 'node:http'
import type { Binding, Template } from './binding.ts'
import { MissingFile } from './binding.ts'
import { decodeCall } from './codec.ts'
import type { DecodedCall } from './codec.ts'
import { RpcCode } from './constants.ts'
import { callStorage, CallContext } from './context.ts'
import type { SignalSource } from './context.ts'
import type { KrpcBadRequestError } from './errors.ts'
import { stackOf } from './reply.ts'
import type { Reply } from './reply.ts'
import type { ExchangeHost, KrpcConnection, KrpcContext, MethodEntry } from './types.ts'

/** What running a call needs from its exchange. */
export interface CallSite extends SignalSource {
  readonly host: ExchangeHost
  readonly reply: Reply
  readonly binding: Binding
  readonly connection: KrpcConnection
  readonly request: IncomingMessage
  /** The request has failed: its reply is the failure's, and the call's outcome is dropped. */
  readonly failed: boolean
  /** The body has ended, so a file still missing will not come. */
  readonly bodyEnded: boolean
  /** The call has its outcome: parts that arrive from now on are drained. */
  settle(): void
  /** The call names `method`. */
  called(method: string): void
  /** A method or the hook threw, or a result could not be sent. */
  handlerError(err: unknown, ctx: KrpcContext): void
}

function isManaged(value: unknown): value is { managed: true; code?: unknown; message?: unknown; info?: unknown } {
  return (typeof value === 'object' || typeof value === 'function') && value !== null
    && (value as { managed?: unknown }).managed === true
}

/** The `info` of -32000 for an error the handler marked public: `<name>: <message>`, or `String(v)`. */
function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`
  try {
    return String(value)
  } catch {
    return typeof value
  }
}

/** Whether a handler's error may tell the peer what went wrong (the `http-errors` convention). */
function isPublic(value: unknown): boolean {
  return (typeof value === 'object' || typeof value === 'function') && value !== null
    && (value as { expose?: unknown }).expose === true
}

/** What the peer learns of an error the handler did not mark public. */
const INTERNAL_ERROR = 'internal error'

// One function for every call, so running a method allocates no closure.
function applyMethod(entry: MethodEntry, args: unknown[]): unknown {
  return entry.fn.apply(entry.holder, args as never[])
}

/** Decodes call text, binds its params, and runs it; every outcome is a reply. */
export function beginCall(site: CallSite, text: string, allowFiles: boolean): void {
  let call: DecodedCall
  try {
    call = decodeCall(text)
  } catch (err) {
    const bad = err as KrpcBadRequestError
    site.settle()
    site.reply.error(bad.rpcCode as RpcCode, bad.info)
    return
  }
  const template = site.binding.bind(call.params, allowFiles, site.bodyEnded)
  invoke(site, call, template)
}

/**
 * Runs the call. A call with no hook and no file parts to wait for runs and is answered in
 * this turn, without a promise: that is nearly every small call.
 */
function invoke(site: CallSite, call: DecodedCall, template: Template): void {
  const method = call.method
  const name = typeof method === 'string' ? method : ''
  site.called(name)
  const ctx = new CallContext(site, name, call.pmhparams, site.connection, site.request)
  if (method === '') {
    site.settle()
    site.reply.error(RpcCode.INVALID_REQUEST, 'Method not specified.')
    return
  }
  if (site.host.preMethodHook !== undefined || site.binding.ready !== undefined) {
    void invokeAfterWaits(site, method, template, ctx)
    return
  }
  const entry = lookup(site, method)
  if (entry !== undefined) run(site, entry, template, ctx)
}

/** The same steps as `invoke` where the hook or file parts must be awaited first. */
async function invokeAfterWaits(site: CallSite, method: unknown, template: Template, ctx: CallContext): Promise<void> {
  const hook = site.host.preMethodHook
  if (hook !== undefined) {
    try {
      await callStorage.run(ctx, hook, ctx.pmhparams, ctx)
    } catch (err) {
      thrown(site, err, ctx)
      return
    }
    if (site.failed) return
  }
  const entry = lookup(site, method)
  if (entry === undefined) return
  const ready = site.binding.ready
  try {
    if (ready !== undefined) await ready
  } catch (err) {
    if (site.failed) return
    site.settle()
    if (err instanceof MissingFile) {
      site.reply.error(RpcCode.MISSING_FILE, err.name)
    } else {
      site.handlerError(err, ctx)
      site.reply.error(RpcCode.UNHANDLED_EXCEPTION, stackOf(site.host, err))
    }
    return
  }
  if (site.failed) return
  run(site, entry, template, ctx)
}

/** The registered method; answers -32601 when there is none. */
function lookup(site: CallSite, method: unknown): MethodEntry | undefined {
  const entry = typeof method === 'string' ? site.host.methods.get(method) : undefined
  if (entry === undefined) {
    site.settle()
    site.reply.error(RpcCode.METHOD_NOT_FOUND)
  }
  return entry
}

function run(site: CallSite, entry: MethodEntry, template: Template, ctx: CallContext): void {
  let result: unknown
  try {
    result = callStorage.run(ctx, applyMethod, entry, site.binding.materialize(template))
  } catch (err) {
    thrown(site, err, ctx)
    return
  }
  // A method that returns at once is answered without waiting a turn.
  if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
    void replyWhenSettled(site, result as PromiseLike<unknown>, ctx)
    return
  }
  if (site.failed) return
  site.settle()
  site.reply.result(result, ctx)
}

async function replyWhenSettled(site: CallSite, pending: PromiseLike<unknown>, ctx: CallContext): Promise<void> {
  let result: unknown
  try {
    result = await pending
  } catch (err) {
    thrown(site, err, ctx)
    return
  }
  if (site.failed) return
  site.settle()
  site.reply.result(result, ctx)
}

/**
 * A throw from the hook or the method: a managed error is a result, anything else -32000, whose
 * `info` is the error's text only when it is marked public (`expose: true`), its stack only with
 * `exposeErrors`, and `internal error` otherwise; the error itself goes to `handlerError`.
 */
function thrown(site: CallSite, err: unknown, ctx: KrpcContext): void {
  if (site.failed) return
  site.settle()
  if (isManaged(err)) {
    const error: Record<string, unknown> = { code: err.code ?? -1, message: err.message ?? '' }
    if ('info' in err) error.info = err.info
    site.reply.result({ error }, ctx)
    return
  }
  let info = INTERNAL_ERROR
  if (site.host.exposeErrors && err instanceof Error && err.stack !== undefined) info = err.stack
  else if (isPublic(err)) info = describe(err)
  site.reply.error(RpcCode.METHOD_EXCEPTION, info)
  site.handlerError(err, ctx)
}
