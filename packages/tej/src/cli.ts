#!/usr/bin/env node
// The tej bin: serve the echo handler, send a frame and print what comes back, decode captured bytes.
import { basename } from 'node:path'
import { deadlineSignal, toText } from '@proto/framing'
import {
  FileDigest,
  clientOptions,
  clientTls,
  connectTarget,
  decodeVerb,
  defineCli,
  defineVerb,
  listenTarget,
  runCli,
  runIfMain,
  serveOptions,
  serveUntilStopped,
  serverTls,
  targetPositional,
  timeoutOption,
} from '@proto/framing/cli'
import type { CliIO, CliOutput, FileSummary } from '@proto/framing/cli'
import { connect } from './client.ts'
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_FILES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_NAME_BYTES,
  DEFAULT_PORT,
  DEFAULT_STALL_TIMEOUT,
  MAX_STATUS,
} from './constants.ts'
import { captureDecoder } from './decode.ts'
import { echoHandler } from './demo.ts'
import { TejClosedError, TejTimeoutError } from './errors.ts'
import { resolveLimits } from './limits.ts'
import { createServer } from './server.ts'
import type { TejConnection, TejIncomingFrame } from './types.ts'

/** What `tej send` waits for each frame back, and for its own frame to go out, by default. */
const DEFAULT_CLI_TIMEOUT = 30_000

const sizeOption = (fallback: number, description: string) =>
  ({ type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, default: fallback, description }) as const

/** `limits.stallTimeout`, as `serve` and `send` take it. */
const stallTimeoutOption = {
  type: 'integer',
  min: 0,
  max: Number.MAX_SAFE_INTEGER,
  default: DEFAULT_STALL_TIMEOUT,
  placeholder: 'MS',
  description: 'cut a connection whose peer takes none of a frame being sent for this many milliseconds, 0 for never',
} as const

/** The receive limits, as `serve` and `decode` take them. */
const limitOptions = {
  'max-files': sizeOption(DEFAULT_MAX_FILES, 'files a frame may declare'),
  'max-name-bytes': sizeOption(DEFAULT_MAX_NAME_BYTES, 'UTF-8 bytes of a file name'),
  'max-file-bytes': sizeOption(DEFAULT_MAX_FILE_BYTES, 'bytes of one file'),
  'max-message-bytes': sizeOption(DEFAULT_MAX_MESSAGE_BYTES, 'bytes of a message, which is held whole'),
} as const

interface LimitValues {
  'max-files': number
  'max-name-bytes': number
  'max-file-bytes': number
  'max-message-bytes': number
}

const limitsOf = (values: LimitValues) => ({
  maxFiles: values['max-files'],
  maxNameBytes: values['max-name-bytes'],
  maxFileBytes: values['max-file-bytes'],
  maxMessageBytes: values['max-message-bytes'],
})

const serve = defineVerb({
  name: 'serve',
  summary: 'echo every frame back unchanged (status, files, message) until SIGINT or SIGTERM',
  details: 'Prints "listening HOST:PORT" first. Each frame is buffered before its echo, so --max-buffered-bytes bounds it; pings are not echoed.',
  options: {
    ...serveOptions({ port: DEFAULT_PORT, idleTimeout: DEFAULT_IDLE_TIMEOUT, maxConnections: DEFAULT_MAX_CONNECTIONS }),
    ...limitOptions,
    'max-buffered-bytes': sizeOption(DEFAULT_MAX_BUFFERED_BYTES, 'bytes of the files and message of one frame held for its echo'),
    'stall-timeout': stallTimeoutOption,
  },
  run: async (ctx) => {
    const { values } = ctx
    const server = createServer({
      handler: echoHandler,
      limits: {
        ...limitsOf(values),
        maxBufferedBytes: values['max-buffered-bytes'],
        idleTimeout: values['idle-timeout'],
        stallTimeout: values['stall-timeout'],
        maxConnections: values['max-connections'],
      },
    })
    const tls = await serverTls(values)
    const proxyProtocol = values['proxy-protocol']
    await serveUntilStopped(ctx, server, { listen: { ...listenTarget(values), tls, proxyProtocol } })
  },
})

const send = defineVerb({
  name: 'send',
  summary: 'send one frame, then print the frames that come back',
  details:
    'Each file goes under its base name, streamed from disk. For each frame received it prints "status N: MESSAGE" and a line per file with its size and SHA-256 (hashed as it streams); with --json, one line {"status","message","files":[{"name","size","sha256"}]}. Pings are not counted. --timeout bounds the sending and the wait for each frame.',
  positionals: [targetPositional('socket')],
  options: {
    message: { type: 'string', placeholder: 'TEXT', description: 'the message, as UTF-8 (none by default)' },
    file: { type: 'list', placeholder: 'PATH', description: 'a file to send; repeat for more' },
    status: { type: 'integer', min: 0, max: MAX_STATUS, default: 0, description: 'the status of the frame' },
    expect: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, default: 1, description: 'frames to wait for and print' },
    ...clientOptions({ timeout: DEFAULT_CLI_TIMEOUT, connectTimeout: DEFAULT_CONNECT_TIMEOUT }),
    timeout: { ...timeoutOption(DEFAULT_CLI_TIMEOUT), description: 'milliseconds for the frame to go out, and for each frame to come back' },
    'stall-timeout': stallTimeoutOption,
  },
  run: async ({ values, args, out, signal }) => {
    const target = connectTarget(args.target, values)
    const tls = await clientTls(values)
    const conn = await connect({
      ...target,
      tls,
      connectTimeout: values['connect-timeout'],
      limits: { stallTimeout: values['stall-timeout'] },
      signal,
    })
    let answered = false
    try {
      const files = values.file.map((path) => ({ name: basename(path), path }))
      await conn.send({ status: values.status, files, message: values.message ?? '' }, { timeout: values.timeout, signal })
      await printReplies(conn, values.expect, { timeout: values.timeout, signal, json: values.json, out })
      answered = true
    } finally {
      // FIN, then the peer's, as the original ends a connection; after a failure, or past the
      // timeout, the connection is cut instead.
      const grace = answered ? deadlineSignal({ timeout: values.timeout, signal }, values.timeout, (ms) => new TejTimeoutError('closing', ms)) : undefined
      await conn.close({ signal: grace === undefined ? AbortSignal.abort() : grace.signal })
      await conn.closed
      grace?.release()
    }
  },
})

/** Waits for `expect` frames, each within `timeout`, and prints them. */
async function printReplies(
  conn: TejConnection,
  expect: number,
  { timeout, signal, json, out }: { timeout: number; signal: AbortSignal; json: boolean; out: CliOutput },
): Promise<void> {
  const frames = conn[Symbol.asyncIterator]()
  try {
    for (let received = 0; received < expect; received += 1) {
      const what = `waiting for frame ${received + 1} of ${expect}`
      // The wait has no call of its own to take a deadline: it ends the connection instead, and
      // the deadline's reason, not the closed connection, is what the user is told.
      const deadline = deadlineSignal({ timeout, signal }, timeout, (ms) => new TejTimeoutError(what, ms))
      const stop = (): void => void conn.close({ signal: AbortSignal.abort(deadline.signal?.reason) })
      deadline.signal?.addEventListener('abort', stop, { once: true })
      try {
        const next = await frames.next()
        if (next.done === true) throw new TejClosedError(`the connection ended after ${received} of ${expect} frames`)
        const frame = await describe(next.value)
        if (json) await out.printJson(frame)
        else await printFrame(out, frame)
      } catch (err) {
        if (deadline.signal?.aborted === true) throw deadline.signal.reason
        throw err
      } finally {
        deadline.signal?.removeEventListener('abort', stop)
        deadline.release()
      }
    }
  } finally {
    await frames.return?.()
  }
}

interface FrameSummary {
  status: number
  message: string
  files: FileSummary[]
}

/** A frame as printed: files hashed while they stream, the message as UTF-8. */
async function describe(frame: TejIncomingFrame): Promise<FrameSummary> {
  const files: FileSummary[] = []
  for await (const file of frame.files()) {
    const digest = new FileDigest(file.name)
    for await (const chunk of file) digest.update(chunk)
    files.push(digest.summary())
  }
  return { status: frame.status, message: toText(await frame.message()), files }
}

async function printFrame(out: CliOutput, frame: FrameSummary): Promise<void> {
  await out.print(frame.message === '' ? `status ${frame.status} (no message)` : `status ${frame.status}: ${frame.message}`)
  for (const file of frame.files) await out.print(`  file ${file.name}: ${file.size} bytes, sha256 ${file.sha256}`)
}

const decode = decodeVerb({
  what: 'the raw bytes of one direction of a TEJ connection (both directions carry the same frames)',
  options: limitOptions,
  decoder: (values) => captureDecoder(resolveLimits(limitsOf(values))),
})

/** The `tej` command line. */
export const cli = defineCli({
  name: 'tej',
  summary: 'TEJ v1: full-duplex binary frames with a status, streamed files and a message, over TCP',
  version: new URL('../package.json', import.meta.url),
  verbs: [serve, send, decode],
})

/** Runs `tej` with `argv` (without node and the script) and resolves with the exit code. */
export function main(argv: readonly string[], io: CliIO): Promise<number> {
  return runCli(cli, argv, io)
}

await runIfMain(cli, import.meta.url)
