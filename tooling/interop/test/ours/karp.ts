// Our side of the KARP interop tests: the few calls they make on @proto/karp, in one place, so
// a change of its API touches this file only.
import { connect, createServer, decodeFrame, encodeRequest } from '@proto/karp'
import type { KarpConnection, KarpContext, KarpHandler, KarpRequest } from '@proto/karp'
import { defer } from '../cleanup.ts'
import { runCli, serveCli } from '../cli.ts'

/** What a route of ours receives. */
export interface KarpCall {
  readonly route: string
  readonly text: string
  readonly data: Uint8Array
  readonly wantsReply: boolean
  readonly signal: AbortSignal
  /** Sends a request back to the peer on the same connection. */
  ask(route: string, data?: string): Promise<KarpOutcome>
}

/** A route of ours: returns the reply payload, or throws `failure(...)` to answer success 0. */
export type KarpRoute = (call: KarpCall) => unknown

/** The answer to a request: success 1 with its payload, or success 0 with its message. */
export type KarpOutcome = { readonly ok: true; readonly text: string; readonly data: Uint8Array } | { readonly ok: false; readonly message: string }

/** One end of a connection, ours. */
export interface KarpEnd {
  request(route: string, data?: string | Uint8Array): Promise<KarpOutcome>
  notify(route: string, data?: string | Uint8Array): Promise<void>
  /** Closes cleanly; `within` ms later the connection is cut if the peer has not closed its side. */
  close(within?: number): Promise<void>
  /** Cuts the connection at once. */
  abort(): Promise<void>
  /** Resolves when the connection has ended. */
  readonly closed: Promise<void>
}

/** Our server, with the codes of what it reported. */
export interface KarpServerSide {
  readonly port: number
  /** The server's end of its next connection (or of one already made and not yet taken). */
  connection(): Promise<KarpEnd>
  /** `clientError` codes, in order. */
  readonly clientErrors: string[]
  close(): Promise<void>
}

/** An error whose message our server sends to the peer as a success-0 answer. */
export function failure(message: string): Error {
  return Object.assign(new Error(message), { expose: true })
}

function handlers(routes: Readonly<Record<string, KarpRoute>>): Record<string, KarpHandler> {
  return Object.fromEntries(
    Object.entries(routes).map(([name, route]) => [
      name,
      (request: KarpRequest, ctx: KarpContext) =>
        route({
          route: request.route,
          text: request.text,
          data: request.data,
          wantsReply: request.wantsReply,
          signal: ctx.signal,
          ask: (back, data) => end(ctx.connection).request(back, data),
        }) as never,
    ]),
  )
}

function end(connection: KarpConnection): KarpEnd {
  return {
    async request(route, data = '') {
      try {
        const reply = await connection.request(route, data)
        return { ok: true, text: reply.text(), data: reply.data }
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ERR_KARP_REMOTE') return { ok: false, message: (err as Error).message }
        throw err
      }
    },
    notify: (route, data = '') => connection.notify(route, data),
    close: (within = 5_000) => connection.close({ signal: AbortSignal.timeout(within) }),
    abort: () => connection.close({ signal: AbortSignal.abort() }),
    closed: connection.closed,
  }
}

export async function karpServer(routes: Readonly<Record<string, KarpRoute>>): Promise<KarpServerSide> {
  const server = createServer({ handlers: handlers(routes) })
  const clientErrors: string[] = []
  server.on('clientError', (err) => clientErrors.push(err.code))
  const accepted: KarpConnection[] = []
  const waiting: ((connection: KarpConnection) => void)[] = []
  server.on('connection', (connection) => {
    const waiter = waiting.shift()
    if (waiter === undefined) accepted.push(connection)
    else waiter(connection)
  })
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  const close = (): Promise<void> => server.close({ signal: AbortSignal.timeout(2_000) })
  defer(close)
  return {
    port,
    clientErrors,
    async connection() {
      const connection = accepted.shift() ?? (await new Promise<KarpConnection>((resolve) => waiting.push(resolve)))
      return end(connection)
    },
    close,
  }
}

export async function karpClient(port: number, routes: Readonly<Record<string, KarpRoute>> = {}): Promise<KarpEnd> {
  const connection = await connect({ host: '127.0.0.1', port, handlers: handlers(routes) })
  defer(() => connection.close({ signal: AbortSignal.abort() }))
  return end(connection)
}

/** A request frame as our encoder writes it, LF included. */
export function requestFrame(route: string, id: string, data: string | Uint8Array, wantsReply = true): Uint8Array {
  return encodeRequest({ route, id, data, wantsReply })
}

/** A response line received, decoded. */
export interface KarpResponseLine {
  readonly id: string
  readonly success: boolean
  readonly data: Uint8Array
  readonly text: string
}

/** The response frames in what a raw socket received (requests and malformed lines are left out). */
export function responses(received: Uint8Array): KarpResponseLine[] {
  const lines: KarpResponseLine[] = []
  const text = Buffer.from(received)
  let start = 0
  for (let lf = text.indexOf(10); lf !== -1; start = lf + 1, lf = text.indexOf(10, start)) {
    const frame = decodeFrame(text.subarray(start, lf))
    if (frame.type === 'response') lines.push({ id: frame.id, success: frame.success, data: frame.data, text: Buffer.from(frame.data).toString('utf8') })
  }
  return lines
}

/** `karp serve` on a free port (routes echo, upper and fail); resolves with the port. */
export function karpServeCli(): Promise<number> {
  return serveCli('karp', ['--host', '127.0.0.1', '--port', '0'])
}

/** `karp request 127.0.0.1:PORT ROUTE DATA`: exit code and output. */
export function karpRequestCli(port: number, route: string, data: string) {
  return runCli('karp', ['request', `127.0.0.1:${port}`, route, data])
}
