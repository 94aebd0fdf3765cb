#!/usr/bin/env node
// The korv bin: serve the demo handlers, send one request, decode a captured channel direction.
import {
  connectTimeoutOption,
  clientSocketOption,
  connectTarget,
  CliUsageError,
  decodeVerb,
  defineCli,
  defineVerb,
  hostOption,
  idleTimeoutOption,
  jsonOption,
  listenTarget,
  maxConnectionsOption,
  portOption,
  proxyProtocolOption,
  runCli,
  runIfMain,
  serveSocketOption,
  serveUntilStopped,
  targetPositional,
  timeoutOption,
} from '@proto/framing/cli'
import type { CliIO } from '@proto/framing/cli'
import { Buffer } from 'node:buffer'
import { DEFAULT_CONNECT_TIMEOUT } from '@proto/framing'
import { connect } from './client.ts'
import { decodeJson, encodeJson, isVerb } from './codec.ts'
import {
  DEFAULT_CALL_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_AUTH_ATTEMPTS,
  DEFAULT_MAX_CHANNEL_REPLY_BYTES,
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_CONNECTION_REPLY_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_JSON_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PORT,
} from './constants.ts'
import { captureDecoder } from './decode.ts'
import { createDemoHandlers } from './demo.ts'
import { createServer } from './server.ts'

const count = (fallback: number, description: string) =>
  ({ type: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER, default: fallback, description }) as const
const maxMessageBytesOption = count(DEFAULT_MAX_MESSAGE_BYTES, 'largest gzip member, in bytes')
const maxJsonBytesOption = count(DEFAULT_MAX_JSON_BYTES, 'largest JSON text a member may inflate to, in bytes')

const serve = defineVerb({
  name: 'serve',
  summary: 'serve the demo handlers (GET /hello, GET /echo, GET/STORE/UPDATE/DELETE /items) until SIGINT or SIGTERM',
  details: 'Prints "listening HOST:PORT" first. A key passphrase comes from KORV_PASSPHRASE. korv has no TLS: SSH encrypts.',
  options: {
    host: hostOption(DEFAULT_HOST),
    port: portOption(DEFAULT_PORT),
    socket: serveSocketOption,
    'host-key': { type: 'list', description: 'a host private key file (repeat for several key types); required' },
    'authorized-keys': { type: 'path', description: 'the OpenSSH authorized_keys file of the clients allowed in; required' },
    'expose-errors': { type: 'boolean', description: "send a failing handler's stack to the client (development only)" },
    'idle-timeout': idleTimeoutOption(DEFAULT_IDLE_TIMEOUT),
    'max-connections': maxConnectionsOption(DEFAULT_MAX_CONNECTIONS),
    'proxy-protocol': proxyProtocolOption,
    'handshake-timeout': { type: 'integer', min: 1, max: 2 ** 31 - 1, default: DEFAULT_HANDSHAKE_TIMEOUT, description: 'milliseconds a peer has to authenticate' },
    'max-message-bytes': maxMessageBytesOption,
    'max-json-bytes': maxJsonBytesOption,
    'max-in-flight': count(DEFAULT_MAX_IN_FLIGHT, 'requests awaiting a reply per connection'),
    'max-channels': count(DEFAULT_MAX_CHANNELS, 'channels open at once per connection'),
    'max-auth-attempts': count(DEFAULT_MAX_AUTH_ATTEMPTS, 'refused authentication requests before the connection ends'),
    'max-channel-reply-bytes': count(DEFAULT_MAX_CHANNEL_REPLY_BYTES, 'reply bytes waiting on a channel before it stops reading'),
    'max-connection-reply-bytes': count(DEFAULT_MAX_CONNECTION_REPLY_BYTES, 'reply bytes waiting on a connection before it is ended'),
  },
  run: async (ctx) => {
    const { values } = ctx
    const hostKeys = values['host-key'] ?? []
    const authorizedKeys = values['authorized-keys']
    if (hostKeys.length === 0) throw new CliUsageError('serve needs --host-key')
    if (authorizedKeys === undefined) throw new CliUsageError('serve needs --authorized-keys')
    const passphrase = process.env.KORV_PASSPHRASE
    const server = createServer({
      hostKeys: hostKeys.map((path) => ({ key: { path }, ...(passphrase === undefined ? {} : { passphrase }) })),
      authorizedKeys: { path: authorizedKeys },
      handlers: createDemoHandlers(),
      exposeErrors: values['expose-errors'] === true,
      limits: {
        idleTimeout: values['idle-timeout'],
        maxConnections: values['max-connections'],
        handshakeTimeout: values['handshake-timeout'],
        maxMessageBytes: values['max-message-bytes'],
        maxJsonBytes: values['max-json-bytes'],
        maxInFlight: values['max-in-flight'],
        maxChannels: values['max-channels'],
        maxAuthAttempts: values['max-auth-attempts'],
        maxChannelReplyBytes: values['max-channel-reply-bytes'],
        maxConnectionReplyBytes: values['max-connection-reply-bytes'],
      },
    })
    server.on('authorizedKeysError', (err) => void ctx.out.warn(`${authorizedKeys}: ${err.message}`))
    const proxy = values['proxy-protocol']
    await serveUntilStopped(ctx, server, { listen: { ...listenTarget(values), ...(proxy === undefined ? {} : { proxyProtocol: proxy }) } })
  },
})

const request = defineVerb({
  name: 'request',
  summary: 'send one request and print the reply as {"code":N,"body":...}',
  details: 'Exits 1 when the server answers 400 or more. A key passphrase comes from KORV_PASSPHRASE. Give exactly one of --known-hosts and --insecure-accept-any-host-key.',
  positionals: [
    targetPositional('socket'),
    { name: 'verb', label: 'VERB', description: 'GET, STORE, UPDATE or DELETE', required: true },
    { name: 'resource', label: 'RESOURCE', description: 'the resource, such as /hello', required: true },
    { name: 'body', label: 'JSON_BODY', description: 'the request body, as JSON (default null)', required: false },
  ],
  options: {
    key: { type: 'path', description: 'the client private key file; required' },
    'known-hosts': { type: 'path', description: 'the OpenSSH known_hosts file the server key must be in' },
    'insecure-accept-any-host-key': { type: 'boolean', description: 'skip host key verification (tests only)' },
    user: { type: 'string', description: 'the SSH username; korv servers ignore it' },
    socket: clientSocketOption,
    timeout: timeoutOption(DEFAULT_CALL_TIMEOUT),
    'connect-timeout': connectTimeoutOption(DEFAULT_CONNECT_TIMEOUT),
    json: jsonOption,
  },
  run: async ({ values, args, out, signal }) => {
    const verb = args.verb
    if (!isVerb(verb)) throw new CliUsageError(`VERB must be GET, STORE, UPDATE or DELETE, not ${verb}`)
    const key = values.key
    if (key === undefined) throw new CliUsageError('request needs --key')
    const knownHosts = values['known-hosts']
    const insecure = values['insecure-accept-any-host-key'] === true
    if ((knownHosts === undefined) === !insecure) {
      throw new CliUsageError('request needs exactly one of --known-hosts and --insecure-accept-any-host-key')
    }
    let body: unknown = null
    if (args.body !== undefined) {
      try {
        body = decodeJson(args.body)
      } catch {
        throw new CliUsageError('JSON_BODY is not JSON')
      }
    }
    const passphrase = process.env.KORV_PASSPHRASE
    const client = await connect({
      ...connectTarget(args.target, values),
      privateKey: { path: key },
      ...(passphrase === undefined ? {} : { passphrase }),
      ...(insecure ? { insecureAcceptAnyHostKey: true } : { knownHosts: { path: knownHosts ?? '' } }),
      ...(values.user === undefined ? {} : { username: values.user }),
      timeout: values.timeout,
      connectTimeout: values['connect-timeout'],
      signal,
    })
    try {
      const reply = await client.request(verb, args.resource, body, { signal })
      // The original's JSON (non-ASCII as \u escapes): no raw control character reaches the terminal.
      await out.write(Buffer.from(`${encodeJson({ code: reply.code, body: reply.body })}\n`))
      if (reply.code < 400) return 0
      const message = (reply.body as { message?: unknown } | null)?.message
      if (!values.json && typeof message === 'string') out.warn(`korv: the server answered ${reply.code}: ${message}`)
      return 1
    } finally {
      await client.close({ signal })
    }
  },
})

const decode = decodeVerb({
  what: 'the raw bytes of one direction of a korv channel (SSH decrypted): gzip members, each a JSON message',
  options: { 'max-message-bytes': maxMessageBytesOption, 'max-json-bytes': maxJsonBytesOption },
  decoder: (values) => captureDecoder({ maxMessageBytes: values['max-message-bytes'], maxJsonBytes: values['max-json-bytes'] }),
})

/** The `korv` command line. */
export const cli = defineCli({
  name: 'korv',
  summary: 'REST-like JSON requests (GET/STORE/UPDATE/DELETE) over SSH direct-tcpip channels',
  version: new URL('../package.json', import.meta.url),
  verbs: [serve, request, decode],
})

/** Runs `korv` with `argv` (without node and the script) and resolves with the exit code. */
export function main(argv: readonly string[], io: CliIO): Promise<number> {
  return runCli(cli, argv, io)
}

await runIfMain(cli, import.meta.url)
