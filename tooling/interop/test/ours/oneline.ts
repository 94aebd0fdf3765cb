// Our side of the oneline interop tests: the few calls they make on @proto/oneline, in one
// place, so a change of its API touches this file only.
import { connect, createServer } from '@proto/oneline'
import type { OnelineClient } from '@proto/oneline'
import { defer } from '../cleanup.ts'
import { runCli } from '../cli.ts'

/** A command our server's handler received. */
export interface OnelineCommand {
  readonly text: string
  readonly invalid: boolean
}

/** Our server with the callback the vectors were captured with, and what it saw. */
export interface OnelineServerSide {
  readonly port: number
  readonly commands: OnelineCommand[]
  readonly clientErrors: string[]
  /** Resolves once `count` connections wait in the queue. */
  queued(count: number): Promise<void>
  /** Resolves when a client's `shutdown` has closed the server. */
  readonly shutDown: Promise<void>
}

/** Our client. */
export interface OnelineSide {
  request(command: string, lines?: number): Promise<string[]>
  ping(): Promise<void>
  /** `disconnect`, then the server's EOF. */
  close(): Promise<void>
  shutdown(): Promise<void>
  readonly closed: Promise<void>
}

/** Python's `json.dumps(text)`: ASCII only, every other code unit as a lowercase `\uXXXX`. */
export function pythonJson(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * The callback of the vectors: cmd01 -> ack; multi -> r1, r2, r3; silent -> nothing; unicode ->
 * one line of non-ASCII text; anything else -> cb:<JSON>:<True|False>.
 */
function callback(text: string, invalid: boolean): string | string[] | undefined {
  switch (text) {
    case 'cmd01':
      return 'ack'
    case 'multi':
      return ['r1', 'r2', 'r3']
    case 'silent':
      return undefined
    case 'unicode':
      return 'héllo ✓ 日本語'
    default:
      return `cb:${pythonJson(text)}:${invalid ? 'True' : 'False'}`
  }
}

export async function onelineServer(): Promise<OnelineServerSide> {
  const commands: OnelineCommand[] = []
  const server = createServer({
    handler: (text, ctx) => {
      commands.push({ text, invalid: ctx.invalid })
      return callback(text, ctx.invalid)
    },
  })
  const clientErrors: string[] = []
  server.on('clientError', (err) => clientErrors.push(err.code))
  const shutDown = new Promise<void>((resolve) => server.once('close', () => resolve()))
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  defer(() => server.close({ signal: AbortSignal.abort() }))
  return {
    port,
    commands,
    clientErrors,
    shutDown,
    // Every admitted connection is announced, the queued ones included.
    queued(count) {
      return new Promise<void>((resolve) => {
        const check = (): void => {
          if (server.queued < count) return
          server.off('connection', check)
          resolve()
        }
        server.on('connection', check)
        check()
      })
    },
  }
}

export async function onelineClient(port: number): Promise<OnelineSide> {
  const client: OnelineClient = await connect({ host: '127.0.0.1', port, timeout: 10_000 })
  defer(async () => {
    // close() ends the socket even when it times out waiting for a server that never answers
    // `disconnect` (a raw listener): that rejection is no failure of the test.
    await client.close({ timeout: 250 }).catch(() => {})
  })
  return {
    request: (command, lines = 1) => client.request(command, { lines }),
    ping: () => client.ping(),
    close: () => client.close(),
    shutdown: () => client.shutdown(),
    closed: client.closed,
  }
}

/** Our client's connect, for the cases that look at how it fails. */
export async function onelineConnectError(port: number): Promise<string> {
  try {
    const client = await connect({ host: '127.0.0.1', port, timeout: 10_000 })
    await client.close()
  } catch (err) {
    return String((err as { code?: unknown }).code)
  }
  return 'connected'
}

/** `oneline send 127.0.0.1:PORT COMMAND...`, one line per command: exit code and output. */
export function onelineSendCli(port: number, commands: readonly string[]) {
  return runCli('oneline', ['send', `127.0.0.1:${port}`, ...commands])
}
