// One command of an active client: a built-in, or the handler with the lines it returns and sends.
import type { Buffer } from 'node:buffer'
import { ErrorCode as ProtoErrorCode, isProtoError } from '@proto/framing'
import type { CallOptions, FramedConnection, ProtoError, TimeoutError } from '@proto/framing'
import { decodeCommand, encodeLine } from './codec.ts'
import { Command, PONG } from './constants.ts'
import { CommandContext } from './context.ts'
import { channels } from './diagnostics.ts'
import { OnelineIdleTimeoutError, toOnelineError } from './errors.ts'
import type { OnelineConnection, OnelineContext, OnelineHandler, OnelineReply } from './types.ts'

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
  /** How long a reply may wait for the client to take it: `idleTimeout`, when it is on. */
  readonly writeOptions: CallOptions | undefined
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
  // Only for a subscriber: nothing is spent on diagnostics otherwise.
  const report = channels.requestStart.hasSubscribers ? started(text, invalid, source.connection) : undefined
  const { conn, writeOptions } = source
  let outcome: Outcome = 'next'
  // One async function for the whole command: each await is a turn of the microtask queue on
  // every round trip.
  try {
    if (text === Command.PING) await conn.write(PONG_LINE, writeOptions)
    else if (text === Command.DISCONNECT) outcome = 'leave'
    else if (text === Command.SHUTDOWN && host.allowShutdown) outcome = 'shutdown'
    else if (host.handler !== undefined) {
      const ctx = new CommandContext(raw, invalid, source.signal, source.connection, conn, writeOptions)
      let replied: Promise<void> | undefined
      try {
        const result = host.handler(text, ctx)
        // A synchronous handler's reply goes out without waiting a microtask for it.
        const reply = isPromiseLike(result) ? await result : result
        ctx.settle()
        if (typeof reply === 'string') replied = conn.write(encodeLine(reply), writeOptions)
        else if (reply !== undefined && reply.length > 0) replied = conn.write(reply.map(encodeLine), writeOptions)
      } catch (err) {
        ctx.settle()
        report?.(err)
        host.handlerError(err, ctx)
        // The lines sent before the failure still go out before the FIN.
        return 'leave'
      }
      if (replied !== undefined) await replied
      const flushed = ctx.flushed()
      if (flushed !== undefined) await flushed
    }
  } catch (err) {
    const failure = writeFailure(err, conn)
    report?.(failure)
    throw failure
  }
  report?.(undefined)
  return outcome
}

/**
 * A failed write as a oneline error. A client that took none of its replies for `idleTimeout`
 * is idle, as much as a silent one, or the queue would wait behind it for ever. It, and a client
 * whose unread replies passed `maxWriteBufferBytes`, is destroyed here: ending it would wait for
 * them to flush, which they never do while it does not read.
 */
function writeFailure(err: unknown, conn: FramedConnection): ProtoError {
  if (!isProtoError(err)) return toOnelineError(err)
  // The only deadline in a command is its writes' (writeOptions).
  if (err.code === ProtoErrorCode.TIMEOUT) {
    const idle = new OnelineIdleTimeoutError((err as TimeoutError).timeout, { cause: err })
    conn.destroy(idle)
    return idle
  }
  if (err.code === ProtoErrorCode.WRITE_BUFFER_FULL) {
    conn.destroy(err)
    return err
  }
  return toOnelineError(err)
}

/** Publishes `request:start` for a command, and returns what publishes its end or error. */
function started(command: string, invalid: boolean, connection: OnelineConnection): (error: unknown) => void {
  const message = { side: 'server', remote: connection.remote, connection, request: { command, invalid, lines: undefined } } as const
  channels.requestStart.publish(message)
  return (error) => {
    if (error === undefined) {
      if (channels.requestEnd.hasSubscribers) channels.requestEnd.publish(message)
    } else if (channels.requestError.hasSubscribers) channels.requestError.publish({ ...message, error })
  }
}
