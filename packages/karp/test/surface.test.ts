import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as api from '../src/index.ts'

describe('package surface', () => {
  it('exports the spec API and nothing else at runtime', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'DEFAULT_HOST',
        'DEFAULT_KEEP_ALIVE',
        'DEFAULT_MAX_CONNECTIONS',
        'DEFAULT_MAX_FRAME_BYTES',
        'DEFAULT_MAX_IN_FLIGHT',
        'DEFAULT_MAX_WRITE_BUFFER_BYTES',
        'DEFAULT_PORT',
        'DEFAULT_TIMEOUT',
        'ErrorCode',
        'KarpBadBase64Error',
        'KarpBadFrameError',
        'KarpBadHandlerResultError',
        'KarpClosedError',
        'KarpConnectError',
        'KarpDataError',
        'KarpError',
        'KarpFrameTooLargeError',
        'KarpInvalidRouteError',
        'KarpLengthMismatchError',
        'KarpListenError',
        'KarpTooManyConnectionsError',
        'KarpTooManyInFlightError',
        'RemoteError',
        'connect',
        'createServer',
        'decodeFrame',
        'encodeRequest',
        'encodeResponse',
      ].sort(),
    )
  })

  it('index.ts holds named re-exports only', () => {
    const source = readFileSync(new URL('../src/index.ts', import.meta.url), 'utf8')
    for (const statement of source.split(/\n(?=export)/)) expect(statement).toMatch(/^export (type )?\{[^}]+\} from '[^']+'\n?$/)
  })

  it('ships a bin named karp and an ESM-only exports map', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as Record<string, unknown>
    expect(pkg).toMatchObject({
      name: '@proto/karp',
      type: 'module',
      sideEffects: false,
      bin: { karp: './dist/cli.js' },
      engines: { node: '>=20.19' },
      exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
      dependencies: { '@proto/framing': 'workspace:^' },
    })
  })
})
