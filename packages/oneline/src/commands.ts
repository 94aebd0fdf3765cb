// One command of an active client: a built-in, or the handler with the lines it returns and sends.
import type { Buffer } from 'node:buffer'
import type { FramedConnection } from '@proto/framing'
import { decodeCommand, encodeLine } from './codec.ts'
import { Command, PONG } from './constants.ts'
import { CommandContext } from './context.ts'
import { channels } from './diagnostics.ts'
import { toOnelineError } from './errors.ts'
import type { OnelineCommandInfo, OnelineConnection, OnelineContext, OnelineHandler, OnelineReply } from './types.ts'

/** What the client's serving does next: the next command, or the client leaves, or the server closes. */
export type Outcome = 'next' | 'leave' | 'shutdown'

/** What running a command needs of the server. */
export interface CommandHost {
  /** The handler of commands that are not built-ins, if there is one. */
  readonly handler: OnelineHandler | undefined
  /** `shutdown` closes the server, rather than going to the handler. */
  readonly allowShutdown: boolean
  /** A handler threw or returned a line with LF. */
  handlerError(err: unknown, ctx: OnelineContext): void
}

/** The active client a command comes from. */
export interface CommandSource {
  readonly connection: OnelineConnection
  readonly conn: FramedConnection
  readonly signal: AbortSignal
}

const PONG_LINE = encodeLine(PONG)

function isPromiseLike(value: unknown): value is PromiseLike<OnelineReply> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function'
}

/**
 * Handles one command, with its lines written before it resolves. A handler that fails is
 * reported through `host.handlerError`, and the client leaves once the lines it sent are out.
 * @throws the oneline error of a write that failed: the client is gone or over a limit
 */
export async function runCommand(raw: Buffer, source: CommandSource, host: CommandHost): Promise<Outcome> {
  const { text, invalid } = decodeCommand(raw)
  const { connection } = source
  // The message is built only for a subscriber: nothing is spent on diagnostics otherwise.
  const info: OnelineCommandInfo | undefined = channels.requestStart.hasSubscribers ? { command: text, invalid, lines: undefined } : undefined
  if (info !== undefined) channels.requestStart.publish({ side: 'server', remote: connection.remote, connection, request: info })
  try {
    const outcome = await dispatch(text, invalid, raw, source, host.handler, host.allowShutdown)
    if (info !== undefined && channels.requestEnd.hasSubscribers) {
      channels.requestEnd.publish({ side: 'server', remote: connection.remote, connection, request: info })
    }
    return outcome
  } catch (err) {
    const failed = err instanceof HandlerFailure ? err.error : err
    if (info !== undefined && channels.requestError.hasSubscribers) {
      channels.requestError.publish({ side: 'server', remote: connection.remote, connection, request: info, error: failed })
    }
    if (!(err instanceof HandlerFailure)) throw err
    host.handlerError(err.error, err.ctx)
    // The lines sent before the failure still go out before the FIN.
    return 'leave'
  }
}

async function dispatch(text: string, invalid: boolean, raw: Buffer, source: CommandSource, handler: OnelineHandler | undefined, allowShutdown: boolean): Promise<Outcome> {
  const { conn } = source
  if (text === Command.PING) {
    await write(conn.write(PONG_LINE))
    return 'next'
  }
  if (text === Command.DISCONNECT) return 'leave'
  if (text === Command.SHUTDOWN && allowShutdown) return 'shutdown'
  if (handler === undefined) return 'next'

  const ctx = new CommandContext(raw, invalid, source.signal, source.connection, conn)
  let replied: Promise<void> | undefined
  try {
    const result = handler(text, ctx)
    // A synchronous handler's reply goes out without waiting a microtask for it.
    const reply = isPromiseLike(result) ? await result : result
    ctx.settle()
    if (typeof reply === 'string') replied = conn.write(encodeLine(reply))
    else if (reply !== undefined && reply.length > 0) replied = conn.write(reply.map(encodeLine))
  } catch (err) {
    ctx.settle()
    throw new HandlerFailure(err, ctx)
  }
  const flushed = ctx.flushed()
  await write(replied === undefined ? flushed : Promise.all([replied, flushed]))
  return 'next'
}

/** Waits for a write, with its failure as a oneline error. */
async function write(written: Promise<unknown>): Promise<void> {
  try {
    await written
  } catch (err) {
    throw toOnelineError(err)
  }
}

/** A handler threw, or returned a line that cannot be sent: kept apart from a failed write. */
class HandlerFailure extends Error {
  readonly error: unknown
  readonly ctx: OnelineContext
  constructor(error: unknown, ctx: OnelineContext) {
    super('the handler failed')
    this.error = error
    this.ctx = ctx
  }
}
