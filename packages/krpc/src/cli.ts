#!/usr/bin/env node
// The krpc bin: serve the demo methods, call a method, decode captured HTTP bytes.
import { Readable } from 'node:stream'
import {
  clientOptions, clientTls, decodeVerb, defineCli, defineVerb, listenTarget, parseHostPort, runCli, runIfMain,
  serveOptions, serveUntilStopped, serverTls,
} from '@proto/framing/cli'
import type { CliIO } from '@proto/framing/cli'
import { CliUsageError } from '@proto/framing/cli'
import { asFile, connect, isBinaryResult } from './client.ts'
import type { KrpcConnectOptions } from './types.ts'
import {
  DEFAULT_BODY_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_FIELD_NAME_SIZE, DEFAULT_FIELD_SIZE, DEFAULT_FIELDS, DEFAULT_FILE_SIZE,
  DEFAULT_FILES, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_PARTS, DEFAULT_PORT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_TIMEOUT,
} from './constants.ts'
import { captureDecoder } from './decode.ts'
import { demoMethods } from './demo.ts'
import { createServer } from './server.ts'

const count = (fallback: number, description: string) =>
  ({ type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, default: fallback, description }) as const

const sizeOptions = {
  'field-size': count(DEFAULT_FIELD_SIZE, 'largest form field value, in bytes'),
  'field-name-size': count(DEFAULT_FIELD_NAME_SIZE, 'longest form field name, in bytes'),
  'file-size': count(DEFAULT_FILE_SIZE, 'largest file part, in bytes'),
} as const

const serve = defineVerb({
  name: 'serve',
  summary: 'serve the demo methods echo(x), add(a, b), upload(file) and fail() until SIGINT or SIGTERM',
  details: 'Prints "listening HOST:PORT" first. The first SIGINT or SIGTERM stops it at once for idle connections; calls in progress get 2 s; a second signal cuts them.',
  options: {
    ...serveOptions({ port: DEFAULT_PORT, idleTimeout: DEFAULT_IDLE_TIMEOUT, maxConnections: DEFAULT_MAX_CONNECTIONS }),
    ...sizeOptions,
    files: count(DEFAULT_FILES, 'file parts in one request'),
    fields: count(DEFAULT_FIELDS, 'form fields in one request'),
    parts: count(DEFAULT_PARTS, 'multipart parts in one request'),
    'body-timeout': count(DEFAULT_BODY_TIMEOUT, 'ms a request body may go without a byte while more is due'),
    'request-timeout': count(DEFAULT_REQUEST_TIMEOUT, 'ms a whole request may take to arrive'),
    'expose-errors': { type: 'boolean', description: "send every method error's text and stack to the peer (development only)" },
  },
  run: async (ctx) => {
    const { values } = ctx
    const tls = await serverTls(values)
    const server = createServer({
      handlers: demoMethods,
      exposeErrors: values['expose-errors'],
      limits: {
        idleTimeout: values['idle-timeout'],
        maxConnections: values['max-connections'],
        fieldSize: values['field-size'],
        fieldNameSize: values['field-name-size'],
        fileSize: values['file-size'],
        files: values.files,
        fields: values.fields,
        parts: values.parts,
        bodyTimeout: values['body-timeout'],
        requestTimeout: values['request-timeout'],
      },
    })
    await serveUntilStopped(ctx, server, {
      listen: {
        ...listenTarget(values),
        ...(tls === undefined ? {} : { tls }),
        ...(values['proxy-protocol'] === undefined ? {} : { proxyProtocol: values['proxy-protocol'] }),
      },
    })
  },
})

function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new CliUsageError(`${what} is not JSON: ${text}`)
  }
}

const call = defineVerb({
  name: 'call',
  summary: 'call METHOD with JSON arguments and print the result as one JSON line (a binary result raw)',
  details: 'The file arguments follow the JSON ones, one per --file. --json prints {"result": ...}.',
  positionals: [
    { name: 'target', label: 'URL|HOST:PORT', description: 'the server: http://... or https://..., or HOST:PORT ([ADDRESS]:PORT for IPv6)', required: true, absentWith: 'socket' },
    { name: 'method', label: 'METHOD', description: 'the method to call', required: true },
    { name: 'params', label: 'JSON_ARG', description: 'an argument, as JSON', variadic: true },
  ],
  options: {
    ...clientOptions({ timeout: DEFAULT_TIMEOUT, connectTimeout: DEFAULT_CONNECT_TIMEOUT }),
    file: { type: 'list', description: 'a file argument, after the JSON ones (repeatable)' },
    get: { type: 'boolean', description: 'call with GET rather than POST (no files)' },
    pmh: { type: 'string', description: 'pre-method-hook parameters, as JSON' },
  },
  run: async ({ values, args, out, signal }) => {
    const params: unknown[] = (args.params ?? []).map((text) => parseJson('JSON_ARG', text))
    for (const path of values.file ?? []) params.push(asFile({ path }))
    const pmhparams = values.pmh === undefined ? undefined : parseJson('--pmh', values.pmh)
    const tls = await clientTls(values)
    const options: KrpcConnectOptions = { timeout: values.timeout, connectTimeout: values['connect-timeout'], signal }
    const target = args.target
    if (values.socket !== undefined) {
      options.path = values.socket
    } else if (target !== undefined && /^https?:\/\//i.test(target)) {
      options.url = target
    } else if (target !== undefined) {
      const { host, port } = parseHostPort(target, 'URL|HOST:PORT')
      options.url = `${tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}/`
    }
    if (tls !== undefined) options.tls = tls
    const client = await connect(options)
    try {
      const result = await client.call(args.method, params, {
        via: values.get ? 'get' : 'post',
        ...(pmhparams === undefined ? {} : { pmhparams }),
        signal,
      })
      if (isBinaryResult(result)) {
        for await (const chunk of Readable.fromWeb(result.stream())) await out.write(chunk as Uint8Array)
      } else await out.printJson(values.json ? { result: result ?? null } : result ?? null)
    } finally {
      await client.close()
    }
  },
})

const decode = decodeVerb({
  what: 'the raw bytes of one direction of a krpc connection: HTTP/1.1 requests, or responses',
  direction: true,
  options: { ...sizeOptions },
  decoder: (values, direction) => captureDecoder({
    direction,
    fieldSize: values['field-size'],
    fieldNameSize: values['field-name-size'],
  }),
})

/** The `krpc` command line. */
export const cli = defineCli({
  name: 'krpc',
  summary: 'remote procedure calls over HTTP/1.1, JSON and multipart file uploads',
  version: new URL('../package.json', import.meta.url),
  verbs: [serve, call, decode],
})

/** Runs `krpc` with `argv` (without node and the script) and resolves with the exit code. */
export function main(argv: readonly string[], io: CliIO): Promise<number> {
  return runCli(cli, argv, io)
}

await runIfMain(cli, import.meta.url)
