import { readFileSync, readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as framing from '@proto/framing'
import * as api from '../src/index.ts'

describe('package surface', () => {
  it('exports the spec API and nothing else at runtime', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'DEFAULT_CONNECT_TIMEOUT',
        'DEFAULT_HANDSHAKE_TIMEOUT',
        'DEFAULT_HOST',
        'DEFAULT_IDLE_TIMEOUT',
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
        'KarpIdleTimeoutError',
        'KarpInvalidRouteError',
        'KarpLengthMismatchError',
        'KarpListenError',
        'KarpProxyHeaderError',
        'KarpTimeoutError',
        'KarpTlsHandshakeError',
        'KarpTooManyConnectionsError',
        'KarpTooManyInFlightError',
        'KarpUnknownRouteError',
        'RemoteError',
        'connect',
        'createServer',
        'decodeFrame',
        'encodeRequest',
        'encodeResponse',
      ].sort(),
    )
  })

  it('exports no server class, and defaults that match framing where they are framing\'s', () => {
    expect(Object.values(api).some((value) => typeof value === 'function' && /Server/.test(value.name) && value !== api.createServer)).toBe(false)
    expect(api.DEFAULT_CONNECT_TIMEOUT).toBe(framing.DEFAULT_CONNECT_TIMEOUT)
    expect(api.DEFAULT_HANDSHAKE_TIMEOUT).toBe(framing.DEFAULT_HANDSHAKE_TIMEOUT)
    expect(api.DEFAULT_MAX_WRITE_BUFFER_BYTES).toBe(framing.DEFAULT_MAX_WRITE_BUFFER_BYTES)
  })

  it('index.ts holds named re-exports only', () => {
    const source = readFileSync(new URL('../src/index.ts', import.meta.url), 'utf8')
    const [opening, ...rest] = source.split(/\n(?=export)/)
    expect(opening).toMatch(/^\/\/ [^\n]+$/)
    for (const statement of rest) expect(statement).toMatch(/^export (type )?\{[^}]+\} from '[^']+'\n?$/)
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

  it('opens every src file with one line saying what it holds, and has no import cycle', () => {
    const dir = new URL('../src/', import.meta.url)
    const files = readdirSync(dir).filter((name) => name.endsWith('.ts'))
    const imports = new Map<string, string[]>()
    for (const name of files) {
      const source = readFileSync(new URL(name, dir), 'utf8')
      const lines = source.split('\n')
      const first = lines[0]?.startsWith('#!') ? lines[1] : lines[0]
      expect(first, name).toMatch(/^\/\/ \S/)
      imports.set(name, [...source.matchAll(/from '\.\/([^']+)'/g)].map((m) => m[1] ?? ''))
    }
    const visiting = new Set<string>()
    const done = new Set<string>()
    const visit = (name: string, path: string[]): void => {
      if (done.has(name)) return
      expect(visiting.has(name), `import cycle: ${[...path, name].join(' -> ')}`).toBe(false)
      visiting.add(name)
      for (const next of imports.get(name) ?? []) visit(next, [...path, name])
      visiting.delete(name)
      done.add(name)
    }
    for (const name of files) visit(name, [])
  })
})
