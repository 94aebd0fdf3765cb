#!/usr/bin/env node
// The karp bin: serve the demo routes, send one request, decode captured frames.
import type { Duplex } from 'node:stream'
import { connectStream } from '@proto/framing'
import type { ListenOptions } from '@proto/framing'
import {
  clientOptions,
  clientTls,
  connectTarget,
  decodeVerb,
  defineCli,
  defineVerb,
  idleTimeoutOption,
  listenTarget,
  payloadJson,
  runCli,
  runIfMain,
  serveOptions,
  serveUntilStopped,
  serverTls,
  targetPositional,
} from '@proto/framing/cli'
import type { CliIO } from '@proto/framing/cli'
import { connect } from './client.ts'
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT,
} from './constants.ts'
import { KarpCaptureDecoder } from './decode.ts'
import { demoHandlers } from './demo.ts'
import { ErrorCode, KARP_ERRORS, KarpUnknownRouteError } from './errors.ts'
import { createServer } from './server.ts'
import type { KarpConnection } from './types.ts'

const maxFrameBytesOption = {
  type: 'integer',
  min: 64,
  max: Number.MAX_SAFE_INTEGER,
  default: DEFAULT_MAX_FRAME_BYTES,
  description: 'largest frame, LF included',
} as const

const serve = defineVerb({
  name: 'serve',
  summary: 'serve the demo routes echo, upper and fail until SIGINT or SIGTERM',
  details:
    'Prints "listening HOST:PORT" (or the socket path) first. echo returns the payload, upper the UTF-8 text uppercased, fail fails with the message fail. On SIGINT or SIGTERM, running handlers finish and connections still open 2 s later are cut.',
  options: {
    ...serveOptions({ port: DEFAULT_PORT, idleTimeout: DEFAULT_IDLE_TIMEOUT, maxConnections: DEFAULT_MAX_CONNECTIONS }),
    'idle-timeout': { ...idleTimeoutOption(DEFAULT_IDLE_TIMEOUT), description: 'close a connection silent this many milliseconds with nothing in flight, 0 for never' },
    'max-frame-bytes': maxFrameBytesOption,
    'max-in-flight': {
      type: 'integer',
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
      default: DEFAULT_MAX_IN_FLIGHT,
      description: 'handlers running per connection; more are answered with a failure',
    },
    'max-write-buffer-bytes': {
      type: 'integer',
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
      default: DEFAULT_MAX_WRITE_BUFFER_BYTES,
      description: 'replies queued per connection before a peer that does not read is closed',
    },
    'expose-errors': { type: 'boolean', description: "send handlers' stack traces to peers (development only)" },
  },
  run: async (ctx) => {
    const { values } = ctx
    const server = createServer({
      handlers: demoHandlers,
      exposeErrors: values['expose-errors'],
      limits: {
        maxConnections: values['max-connections'],
        idleTimeout: values['idle-timeout'],
        maxFrameBytes: values['max-frame-bytes'],
        maxInFlight: values['max-in-flight'],
        maxWriteBufferBytes: values['max-write-buffer-bytes'],
      },
    })
    const tls = await serverTls(values)
    const proxyProtocol = values['proxy-protocol']
    const listen: ListenOptions = {
      ...listenTarget(values),
      ...(tls === undefined ? {} : { tls }),
      ...(proxyProtocol === undefined ? {} : { proxyProtocol }),
    }
    await serveUntilStopped(ctx, server, { listen })
  },
})

const request = defineVerb({
  name: 'request',
  summary: 'send DATA to ROUTE and print the reply as UTF-8',
  details:
    'The reply goes to stdout; a failure from the peer (success 0) to stderr, with exit code 1. --no-reply sends a notification instead and exits once it is written. The connection ends once the request is answered, without waiting for the peer to end its side.',
  positionals: [
    targetPositional('socket'),
    { name: 'route', label: 'ROUTE', description: 'the route, [a-z_]+ once lowercased', required: true },
    { name: 'data', label: 'DATA', description: 'the payload, sent as UTF-8; empty when absent' },
  ],
  options: {
    ...clientOptions({ timeout: DEFAULT_TIMEOUT, connectTimeout: DEFAULT_CONNECT_TIMEOUT }),
    json: { type: 'boolean', description: 'print {"success":true,"text"} ("data" and "encoding":"base64" for bytes that are not UTF-8); errors as {"error"}' },
    'no-reply': { type: 'boolean', description: 'send a notification and exit once it is written' },
  },
  run: async ({ values, args, out, signal }) => {
    const tls = await clientTls(values)
    const stream = await connectStream(
      { ...connectTarget(args.target, values), ...(tls === undefined ? {} : { tls }), connectTimeout: values['connect-timeout'], signal },
      { host: DEFAULT_HOST, port: DEFAULT_PORT, errors: KARP_ERRORS },
    )
    const connection = await connect({ socket: stream, timeout: values.timeout })
    try {
      if (values['no-reply']) {
        await connection.notify(args.route, args.data ?? '', { signal })
      } else {
        let reply
        try {
          reply = await connection.request(args.route, args.data ?? '', { signal })
        } catch (err) {
          throw unknownRoute(err, args.route)
        }
        if (values.json) await out.printJson({ success: true, ...payloadJson(reply.data) })
        else await out.print(reply.text())
      }
    } catch (err) {
      await connection.close({ signal: AbortSignal.abort() })
      throw err
    }
    await leave(connection, stream)
  },
})

/**
 * Ends the connection once the request is done: FIN after the last byte, then the socket is
 * let go without waiting for the peer's FIN, which the original never sends.
 */
async function leave(connection: KarpConnection, stream: Duplex): Promise<void> {
  const closing = connection.close()
  if (!stream.writableFinished && !stream.destroyed) {
    await new Promise<void>((resolve) => {
      stream.once('finish', resolve)
      stream.once('close', resolve)
    })
  }
  stream.destroy()
  await closing
}

/** The original's answer to a route it has no handler for is the route in quotes: say so. */
function unknownRoute(err: unknown, route: string): unknown {
  const { code, message } = err as { code?: unknown; message?: unknown }
  const asked = route.toLowerCase()
  return code === ErrorCode.REMOTE && message === `'${asked}'` ? new KarpUnknownRouteError(asked) : err
}

const decode = decodeVerb({
  what: 'the raw bytes of one direction of a KARP connection (requests and responses alike)',
  options: { 'max-frame-bytes': maxFrameBytesOption },
  decoder: (values) => new KarpCaptureDecoder(values['max-frame-bytes']),
})

/** The `karp` command line. */
export const cli = defineCli({
  name: 'karp',
  summary: 'route-addressed requests and replies over one long-lived TCP connection (KARP)',
  version: new URL('../package.json', import.meta.url),
  verbs: [serve, request, decode],
})

/** Runs `karp` with `argv` (without node and the script) and resolves with the exit code. */
export function main(argv: readonly string[], io: CliIO): Promise<number> {
  return runCli(cli, argv, io)
}

await runIfMain(cli, import.meta.url)
