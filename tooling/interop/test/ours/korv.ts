// Our side of the korv interop tests: the few calls they make on @proto/korv, in one place, so
// a change of its API touches this file only.
import { GzipMemberDecoder } from '@proto/framing'
import { connect, createServer, encodeMessage } from '@proto/korv'
import type { KorvContext, KorvRequest, KorvVerb } from '@proto/korv'
import { defer } from '../cleanup.ts'
import { runCli } from '../cli.ts'

/** A reply: the code and body, whatever the code. */
export interface KorvAnswer {
  readonly code: number
  readonly body: unknown
}

/** Our server with the handlers of `korv serve` plus GET /boom and GET /hold, and what it saw. */
export interface KorvServerSide {
  readonly port: number
  readonly clientErrors: string[]
  /** Resolves with the signal of the next GET /hold request, which never answers on its own. */
  nextHold(): Promise<AbortSignal>
}

/** Our client. */
export interface KorvSide {
  request(verb: KorvVerb, resource: string, body?: unknown): Promise<KorvAnswer>
  close(): Promise<void>
  abort(): Promise<void>
}

function nameOf(body: unknown): string {
  const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined
  return typeof name === 'string' ? name : ''
}

export async function korvServer({ hostKey, authorizedKeys }: { hostKey: string; authorizedKeys: string }): Promise<KorvServerSide> {
  const items = new Map<string, unknown>()
  const holding: ((signal: AbortSignal) => void)[] = []
  const server = createServer({
    hostKeys: [hostKey],
    authorizedKeys,
    handlers: {
      GET: {
        '/hello': () => ({ code: 200, body: { msg: 'Hello World!' } }),
        '/echo': (request: KorvRequest) => ({ code: 200, body: request.body }),
        '/items': () => ({ code: 200, body: [...items.values()] }),
        '/boom': () => {
          throw Object.assign(new Error('kaboom'), { expose: true })
        },
        '/hold': (_request: KorvRequest, ctx: KorvContext) =>
          new Promise(() => {
            holding.shift()?.(ctx.signal)
          }),
      },
      STORE: {
        '/items': (request: KorvRequest) => {
          items.set(nameOf(request.body), request.body)
          return { code: 200, body: { stored: request.body } }
        },
      },
      UPDATE: {
        '/items': (request: KorvRequest) => {
          items.set(nameOf(request.body), request.body)
          return { code: 200, body: { updated: request.body } }
        },
      },
      DELETE: {
        '/items': (request: KorvRequest) => {
          items.delete(nameOf(request.body))
          return { code: 200, body: null }
        },
      },
    },
  })
  const clientErrors: string[] = []
  server.on('clientError', (err) => clientErrors.push(err.code))
  const { port } = (await server.listen({ host: '127.0.0.1', port: 0 })) as { port: number }
  defer(() => server.close({ signal: AbortSignal.abort() }))
  return {
    port,
    clientErrors,
    nextHold: () => new Promise((resolve) => holding.push(resolve)),
  }
}

/** The code of `connect()`'s failure, or `'connected'`. */
export async function korvConnectError(options: { port: number; privateKey: string; knownHosts: string }): Promise<string> {
  try {
    const client = await connect({ host: '127.0.0.1', ...options })
    await client.close()
  } catch (err) {
    return String((err as { code?: unknown }).code)
  }
  return 'connected'
}

export async function korvClient({ port, privateKey, knownHosts }: { port: number; privateKey: string; knownHosts: string }): Promise<KorvSide> {
  const client = await connect({ host: '127.0.0.1', port, privateKey, knownHosts })
  defer(() => client.close({ signal: AbortSignal.abort() }))
  return {
    request: (verb, resource, body = null) => client.request(verb, resource, body),
    close: () => client.close({ signal: AbortSignal.timeout(5_000) }),
    abort: () => client.close({ signal: AbortSignal.abort() }),
  }
}

/** One gzip member of `message`'s JSON, as our encoder writes it. */
export function member(message: object): Uint8Array {
  return encodeMessage(message)
}

/** `korv request 127.0.0.1:PORT VERB RESOURCE [BODY] --key PATH --known-hosts PATH`: exit code and output. */
export function korvRequestCli(port: number, verb: KorvVerb, resource: string, body: unknown, { key, knownHosts }: { key: string; knownHosts: string }) {
  return runCli('korv', ['request', `127.0.0.1:${port}`, verb, resource, ...(body === undefined ? [] : [JSON.stringify(body)]), '--key', key, '--known-hosts', knownHosts])
}

/**
 * Decodes what a channel receives into messages, however the gzip members are split or joined:
 * `push` resolves with the messages each chunk completes, in order.
 */
export function messageDecoder(): { push(chunk: Uint8Array): Promise<unknown[]> } {
  const decoder = new GzipMemberDecoder()
  return {
    push: async (chunk) => (await decoder.push(chunk)).map((json) => JSON.parse(json.toString('utf8')) as unknown),
  }
}
