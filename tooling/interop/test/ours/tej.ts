// Our side of the TEJ interop tests: the few calls they make on @proto/tej, in one place, so a
// change of its API touches this file only.
import { createHash } from 'node:crypto'
import { connect, createServer, decodeFrame, encodeFrame } from '@proto/tej'
import type { TejConnection, TejContext, TejFrame, TejIncomingFrame } from '@proto/tej'
import { defer } from '../cleanup.ts'
import { runCli } from '../cli.ts'

/** A file to send: its data, or `pattern` bytes counting 0..255 over and over. */
export interface TejFileOut {
  readonly name: string
  readonly data?: string | Uint8Array
  readonly pattern?: number
}

/** A frame to send. */
export interface TejFrameOut {
  readonly status?: number
  readonly files?: readonly TejFileOut[]
  readonly message?: string
}

/** A frame or ping as received: what the Python drivers report too, so both compare alike. */
export interface TejFrameSeen {
  readonly status: number
  readonly files: readonly { readonly name: string; readonly size: number; readonly sha256: string }[]
  /** The message as UTF-8; `null` when it is empty, as the original reports it. */
  readonly message: string | null
}

/** One end of a connection, ours, with what it received. */
export interface TejEnd {
  send(frame: TejFrameOut): Promise<void>
  ping(): Promise<void>
  /** Resolves with the `n`th frame received (from 0), already or still to come. */
  frame(n: number): Promise<TejFrameSeen>
  /** Resolves with the `n`th ping received (from 0). */
  pingReceived(n: number): Promise<TejFrameSeen>
  readonly frames: readonly TejFrameSeen[]
  close(): Promise<void>
  abort(): Promise<void>
  /** Resolves when the connection has ended. */
  readonly closed: Promise<void>
}

/** Our server: an echo server (like `tej serve`) or a sink, with what it reported. */
export interface TejServerSide {
  readonly port: number
  connection(): Promise<TejEnd>
  /** `clientError` codes, in order. */
  readonly clientErrors: string[]
  /** Resolves once a `clientError` with `code` has been reported. */
  clientError(code: string): Promise<void>
}

/** `size` bytes counting 0..255 over and over, as the Python drivers make them. */
export function pattern(size: number): Buffer {
  const bytes = Buffer.alloc(size)
  for (let i = 0; i < size; i++) bytes[i] = i & 0xff
  return bytes
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

/** What a receiver reports of `frame`. */
export function seen(frame: TejFrame): TejFrameSeen {
  return {
    status: frame.status,
    files: frame.files.map((file) => ({ name: file.name, size: file.data.length, sha256: sha256(file.data) })),
    message: frame.message.length === 0 ? null : Buffer.from(frame.message).toString('utf8'),
  }
}

function outgoing(frame: TejFrameOut) {
  return {
    status: frame.status ?? 0,
    files: (frame.files ?? []).map((file) => ({ name: file.name, data: file.data ?? pattern(file.pattern ?? 0) })),
    ...(frame.message === undefined ? {} : { message: frame.message }),
  }
}

class Record<T> {
  readonly all: T[] = []
  readonly #waiters = new Map<number, ((value: T) => void)[]>()

  push(value: T): void {
    this.all.push(value)
    const index = this.all.length - 1
    for (const resolve of this.#waiters.get(index) ?? []) resolve(value)
    this.#waiters.delete(index)
  }

  at(n: number): Promise<T> {
    const value = this.all[n]
    if (value !== undefined) return Promise.resolve(value)
    return new Promise((resolve) => this.#waiters.set(n, [...(this.#waiters.get(n) ?? []), resolve]))
  }
}

function end(conn: TejConnection, frames: Record<TejFrameSeen>): TejEnd {
  const pings = new Record<TejFrameSeen>()
  conn.on('ping', (frame) => pings.push(seen(frame)))
  return {
    send: (frame) => conn.send(outgoing(frame)),
    ping: () => conn.ping(),
    frame: (n) => frames.at(n),
    pingReceived: (n) => pings.at(n),
    frames: frames.all,
    close: () => conn.close({ signal: AbortSignal.timeout(5_000) }),
    abort: () => conn.close({ signal: AbortSignal.abort() }),
    closed: conn.closed,
  }
}

/**
 * Our server. With `echo`, each frame is sent back unchanged (status, files, message), as
 * `tej serve` does; frames are buffered, so the echo of one peer never waits for another.
 */
export async function tejServer({ echo }: { echo: boolean }): Promise<TejServerSide> {
  const frames = new Map<TejConnection, Record<TejFrameSeen>>()
  const framesOf = (conn: TejConnection): Record<TejFrameSeen> => {
    const known = frames.get(conn)
    if (known !== undefined) return known
    const fresh = new Record<TejFrameSeen>()
    frames.set(conn, fresh)
    return fresh
  }
  const server = createServer({
    handler: async (incoming: TejIncomingFrame, { connection }: TejContext) => {
      const frame = await incoming.buffer()
      framesOf(connection).push(seen(frame))
      if (echo) await connection.send(frame)
    },
  })
  const clientErrors: string[] = []
  const waiters: { code: string; resolve: () => void }[] = []
  server.on('clientError', (err) => {
    clientErrors.push(err.code)
    for (const waiter of waiters.filter((w) => w.code === err.code)) waiter.resolve()
  })
  const accepted = new Record<TejEnd>()
  server.on('connection', (conn) => accepted.push(end(conn, framesOf(conn))))
  let taken = 0
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  defer(() => server.close({ signal: AbortSignal.abort() }))
  return {
    port,
    clientErrors,
    connection: () => accepted.at(taken++),
    clientError: (code) =>
      clientErrors.includes(code) ? Promise.resolve() : new Promise((resolve) => waiters.push({ code, resolve })),
  }
}

export async function tejClient(port: number): Promise<TejEnd> {
  const frames = new Record<TejFrameSeen>()
  const conn = await connect({
    host: '127.0.0.1',
    port,
    handler: async (incoming) => frames.push(seen(await incoming.buffer())),
  })
  defer(() => conn.close({ signal: AbortSignal.abort() }))
  return end(conn, frames)
}

/** The codes of our encoder's refusals, for the cases that check what never goes out. */
export async function refusal(send: Promise<void>): Promise<string> {
  try {
    await send
  } catch (err) {
    return String((err as { code?: unknown }).code)
  }
  return 'sent'
}

/** The bytes our encoder writes for `frame`. */
export function encode(frame: TejFrameOut): Uint8Array {
  const { status, files, message } = outgoing(frame)
  return encodeFrame({
    status,
    files: files.map((file) => ({ name: file.name, data: typeof file.data === 'string' ? Buffer.from(file.data) : file.data })),
    message: Buffer.from(message ?? ''),
  })
}

/** The code our decoder refuses `bytes` with, or `'decoded'`. */
export function decodeError(bytes: Uint8Array): string {
  try {
    decodeFrame(bytes)
  } catch (err) {
    return String((err as { code?: unknown }).code)
  }
  return 'decoded'
}

/** `tej send 127.0.0.1:PORT --json` with a status, a message and files from disk: exit code and output. */
export function tejSendCli(port: number, { status, message, files }: { status: number; message: string; files: readonly string[] }) {
  return runCli('tej', ['send', `127.0.0.1:${port}`, '--json', '--status', String(status), '--message', message, ...files.flatMap((file) => ['--file', file])])
}
