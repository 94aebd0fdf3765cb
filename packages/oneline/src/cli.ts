#!/usr/bin/env node
// The oneline bin: serve the demo handler, send commands, decode captured lines.
import {
  clientOptions,
  clientTls,
  connectTarget,
  decodeVerb,
  defineCli,
  defineVerb,
  jsonOption,
  listenTarget,
  runCli,
  runIfMain,
  serveOptions,
  serverTls,
  serveUntilStopped,
  targetPositional,
} from '@proto/framing/cli'
import type { CliIO } from '@proto/framing/cli'
import { connect } from './client.ts'
import {
  DEFAULT_BUSY,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_QUEUE,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT,
} from './constants.ts'
import { captureDecoder } from './decode.ts'
import { demoHandler } from './demo.ts'
import { createServer } from './server.ts'

const maxLineBytesOption = {
  type: 'integer',
  min: 1,
  max: Number.MAX_SAFE_INTEGER,
  default: DEFAULT_MAX_LINE_BYTES,
  description: 'longest line, in bytes before its LF',
} as const

const serve = defineVerb({
  name: 'serve',
  summary: 'serve the demo handler (echo TEXT, count N) until SIGINT, SIGTERM or an allowed shutdown',
  details: 'Prints "listening HOST:PORT" (or "listening PATH") first. The shutdown command stops it only with --allow-shutdown.',
  options: {
    ...serveOptions({ port: DEFAULT_PORT, idleTimeout: DEFAULT_IDLE_TIMEOUT, maxConnections: DEFAULT_MAX_CONNECTIONS }),
    'strip-cr': { type: 'boolean', description: 'drop one CR before the LF of each command' },
    'allow-shutdown': { type: 'boolean', description: 'let any client stop the server with the shutdown command' },
    'max-line-bytes': maxLineBytesOption,
    'max-queue': { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, default: DEFAULT_MAX_QUEUE, description: 'connections that may wait for their turn' },
    'max-write-buffer-bytes': {
      type: 'integer',
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
      default: DEFAULT_MAX_WRITE_BUFFER_BYTES,
      description: 'unsent bytes held for a client that does not read its replies before it is closed',
    },
    busy: { type: 'enum', choices: ['queue', 'refuse'], default: DEFAULT_BUSY, description: 'what a connection gets while another client is served' },
  },
  run: async (ctx) => {
    const { values } = ctx
    const server = createServer({
      handler: demoHandler,
      stripCR: values['strip-cr'],
      allowShutdown: values['allow-shutdown'],
      busy: values.busy,
      limits: {
        maxConnections: values['max-connections'],
        maxQueue: values['max-queue'],
        maxLineBytes: values['max-line-bytes'],
        idleTimeout: values['idle-timeout'],
        maxWriteBufferBytes: values['max-write-buffer-bytes'],
      },
    })
    const listen = { ...listenTarget(values), tls: await serverTls(values), proxyProtocol: values['proxy-protocol'] }
    const stopped = new Promise<void>((resolve) => server.once('shutdown', () => resolve()))
    await serveUntilStopped(ctx, server, { listen, stopped })
  },
})

const send = defineVerb({
  name: 'send',
  summary: 'send each command and print its response lines',
  details: 'Connects (ping, pong), sends the commands in order, then disconnects. A server busy with another client answers the ping when this one\'s turn comes, within --timeout.',
  positionals: [targetPositional('socket'), { name: 'commands', label: 'COMMAND', description: 'a command, sent as one line', required: true, variadic: true }],
  options: {
    lines: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, default: 1, description: 'response lines to print for each command' },
    ...clientOptions({ timeout: DEFAULT_TIMEOUT, connectTimeout: DEFAULT_CONNECT_TIMEOUT }),
    json: { ...jsonOption, description: 'print the lines of each command as one JSON array' },
  },
  run: async ({ values, args, out, signal }) => {
    const target = connectTarget(args.target, values)
    const tls = await clientTls(values)
    const client = await connect({ ...target, tls, timeout: values.timeout, connectTimeout: values['connect-timeout'], signal })
    // The goodbye waits for the server unless the user interrupts: then it closes at once.
    const goodbye = (): Promise<void> => client.close({ signal })
    try {
      for (const command of args.commands) {
        const reply = await client.request(command, { lines: values.lines, signal })
        if (values.json) await out.printJson(reply)
        else for (const line of reply) await out.print(line)
      }
    } catch (err) {
      await goodbye().catch(() => {})
      throw err
    }
    await goodbye()
  },
})

const decode = decodeVerb({
  what: 'the raw bytes of one direction of a oneline connection (commands and responses are lines alike)',
  options: { 'max-line-bytes': maxLineBytesOption },
  decoder: (values) => captureDecoder(values['max-line-bytes']),
})

/** The `oneline` command line. */
export const cli = defineCli({
  name: 'oneline',
  summary: 'a newline-terminated command/response protocol over TCP, one client at a time',
  version: new URL('../package.json', import.meta.url),
  verbs: [serve, send, decode],
})

/** Runs `oneline` with `argv` (without node and the script) and resolves with the exit code. */
export function main(argv: readonly string[], io: CliIO): Promise<number> {
  return runCli(cli, argv, io)
}

await runIfMain(cli, import.meta.url)
