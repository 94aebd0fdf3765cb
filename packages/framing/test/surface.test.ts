import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import * as cliEntry from '../src/cli/index.ts'
import * as errorsEntry from '../src/errors-entry.ts'
import * as main from '../src/index.ts'
import * as testing from '../src/testing/index.ts'

const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src')

// The browser-safe call helpers, in both entries.
const CALLS = ['DeadlineScheduler', 'checkOptions', 'checkTimeout', 'deadlineSignal', 'guardCall']

const ERRORS = [
  'BadLengthError',
  'ClosedError',
  'ConnectError',
  'ErrorCode',
  'FrameTooLargeError',
  'IdleTimeoutError',
  'InvalidFrameError',
  'ListenError',
  'ProtoError',
  'ProxyHeaderError',
  'TimeoutError',
  'TlsHandshakeError',
  'TooManyConnectionsError',
  'TruncatedFrameError',
  'UsageError',
  'WriteBufferFullError',
  'isProtoError',
]

describe('the public surface', () => {
  it('exports what the spec lists from "."', () => {
    expect(Object.keys(main).sort()).toEqual(
      [
        ...ERRORS,
        ...CALLS,
        'ByteQueue',
        'ByteReader',
        'CONNECT_OPTION_NAMES',
        'DEFAULT_BACKLOG',
        'DEFAULT_CONNECT_TIMEOUT',
        'DEFAULT_FIELD_HIGH_WATER_MARK',
        'DEFAULT_HANDSHAKE_TIMEOUT',
        'DEFAULT_IDLE_TIMEOUT',
        'DEFAULT_MAX_COMPRESSED_BYTES',
        'DEFAULT_MAX_FRAME_BYTES',
        'DEFAULT_MAX_CONNECTIONS',
        'DEFAULT_MAX_LINE_BYTES',
        'DEFAULT_MAX_PROXY_HEADER_BYTES',
        'DEFAULT_MAX_READ_BYTES',
        'DEFAULT_MAX_WRITE_BUFFER_BYTES',
        'DEFAULT_PROXY_HEADER_TIMEOUT',
        'FramedConnection',
        'GzipMemberDecoder',
        'LISTEN_OPTION_NAMES',
        'LengthPrefixedDecoder',
        'Listener',
        'LineDecoder',
        'ProxyHeaderDecoder',
        'checkLimit',
        'connectStream',
        'describeTarget',
        'diagnosticsChannels',
        'decodeFrames',
        'encodeLengthPrefix',
        'encodeLengthPrefixed',
        'encodeLine',
        'errorMapper',
        'peerInfo',
        'toBuffer',
        'toBytes',
        'toText',
        'encodeProxyHeader',
        'escapeControl',
        'readProxyHeader',
        'retainedBytes',
      ].sort(),
    )
  })

  it('has the spec defaults', () => {
    expect(main.DEFAULT_MAX_LINE_BYTES).toBe(65_536)
    expect(main.DEFAULT_MAX_FRAME_BYTES).toBe(16_777_216)
    expect(main.DEFAULT_MAX_COMPRESSED_BYTES).toBe(16_777_216)
    expect(main.DEFAULT_MAX_READ_BYTES).toBe(16_777_216)
    expect(main.DEFAULT_FIELD_HIGH_WATER_MARK).toBe(65_536)
    expect(main.DEFAULT_MAX_WRITE_BUFFER_BYTES).toBe(67_108_864)
    expect(main.DEFAULT_IDLE_TIMEOUT).toBe(0)
    expect(main.DEFAULT_CONNECT_TIMEOUT).toBe(30_000)
    expect(main.DEFAULT_MAX_CONNECTIONS).toBe(1024)
    expect(main.DEFAULT_HANDSHAKE_TIMEOUT).toBe(10_000)
    expect(main.DEFAULT_BACKLOG).toBe(511)
    expect(main.DEFAULT_MAX_PROXY_HEADER_BYTES).toBe(4096)
    expect(main.DEFAULT_PROXY_HEADER_TIMEOUT).toBe(10_000)
  })

  it('exports errors, deadlines and the option checks from "./errors"', () => {
    expect(Object.keys(errorsEntry).sort()).toEqual([...ERRORS, ...CALLS, 'checkLimit'].sort())
    expect(errorsEntry.ProtoError).toBe(main.ProtoError)
  })

  it('exports the test utilities from "./testing"', () => {
    expect(Object.keys(testing).sort()).toEqual([
      'OutputSink',
      'arbitraries',
      'captureIO',
      'cliCases',
      'duplexPair',
      'listenLoopback',
      'loadVectors',
      'makeTestCertificate',
      'randomChunkings',
      'runMain',
      'serveMain',
      'silentServer',
      'spawnServe',
      'splitAt',
      'streamThroughBin',
      'tcpPair',
      'tempSocketPath',
      'writeTestCertificate',
    ])
  })

  it('exports the command-line core from "./cli"', () => {
    expect(Object.keys(cliEntry).sort()).toEqual(
      [
        'CaptureLines',
        'CliErrorCode',
        'CliInterruptedError',
        'CliListenError',
        'CliOutput',
        'CliOutputError',
        'CliReadError',
        'CliUsageError',
        'DEFAULT_CLI_HOST',
        'DEFAULT_CLOSE_GRACE',
        'ERROR_DETAILS',
        'EXIT_CODES',
        'FileDigest',
        'REMOTE_ERROR',
        'caOption',
        'cliHelp',
        'clientOptions',
        'clientSocketOption',
        'clientTls',
        'connectTarget',
        'connectTimeoutOption',
        'decodeCapture',
        'decodeVerb',
        'defineCli',
        'defineVerb',
        'describeError',
        'errorCode',
        'errorJson',
        'errorMessage',
        'exitCodeOf',
        'hostOption',
        'idleTimeoutOption',
        'isRemoteError',
        'jsonLine',
        'jsonOption',
        'listenTarget',
        'maxConnectionsOption',
        'parseHostPort',
        'payloadJson',
        'portOption',
        'proxyProtocolOption',
        'readArgumentFile',
        'runCli',
        'runIfMain',
        'serveOptions',
        'serveSocketOption',
        'serveUntilStopped',
        'serverTls',
        'targetPositional',
        'timeoutOption',
        'tlsCertOption',
        'tlsKeyOption',
        'tlsOption',
        'verbHelp',
      ].sort(),
    )
    expect(cliEntry.CliUsageError.prototype).toBeInstanceOf(main.ProtoError)
  })

  it('loads no node: module and no Buffer through "./errors"', () => {
    const seen = new Set<string>()
    const visit = (file: string): void => {
      if (seen.has(file)) return
      seen.add(file)
      const text = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '')
      expect(text, file).not.toMatch(/\bBuffer\b/)
      for (const [, specifier] of text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
        if (specifier === undefined) continue
        expect(specifier.startsWith('.'), `${file} imports ${specifier}`).toBe(true)
        visit(resolve(dirname(file), specifier))
      }
    }
    visit(join(src, 'errors-entry.ts'))
    expect([...seen].map((f) => f.slice(src.length + 1)).sort()).toEqual(['check-options.ts', 'deadlines.ts', 'errors-entry.ts', 'errors.ts', 'options.ts', 'suggest.ts'])
  })

  it('maps the entry points in package.json to files the build emits', () => {
    const pkg = JSON.parse(readFileSync(join(src, '..', 'package.json'), 'utf8')) as {
      exports: Record<string, { types: string; default: string } | string>
      dependencies?: unknown
      sideEffects: boolean
      type: string
    }
    expect(pkg.type).toBe('module')
    expect(pkg.sideEffects).toBe(false)
    expect(pkg.dependencies).toBeUndefined()
    expect(Object.keys(pkg.exports)).toEqual(['.', './errors', './testing', './cli', './package.json'])
    const sources = { '.': 'index.ts', './errors': 'errors-entry.ts', './testing': 'testing/index.ts', './cli': 'cli/index.ts' }
    for (const [entry, source] of Object.entries(sources)) {
      const target = pkg.exports[entry]
      if (typeof target !== 'object') return expect.unreachable(entry)
      expect(Object.keys(target)[0]).toBe('types')
      expect(target.default).toBe(`./dist/${source.replace(/\.ts$/, '.js')}`)
      expect(target.types).toBe(`./dist/${source.replace(/\.ts$/, '.d.ts')}`)
    }
  })
})
