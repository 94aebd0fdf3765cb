import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineCli, defineVerb } from '../../src/cli/definition.ts'
import {
  clientOptions,
  clientTls,
  connectTarget,
  listenTarget,
  parseHostPort,
  serveOptions,
  serverTls,
  targetPositional,
} from '../../src/cli/options.ts'
import { run } from './helpers.ts'

let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'framing-options-'))
  await writeFile(join(dir, 'cert.pem'), 'CERT')
  await writeFile(join(dir, 'key.pem'), 'KEY')
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const seen: { values?: unknown } = {}
const toy = defineCli({
  name: 'toy',
  summary: 'toy',
  version: '1',
  verbs: [
    defineVerb({
      name: 'serve',
      summary: 'serve',
      options: serveOptions({ port: 7000, idleTimeout: 60_000, maxConnections: 1024 }),
      run: ({ values }) => {
        seen.values = values
        const port: number = values.port
        const proxy: 'v1' | 'v2' | 'any' | undefined = values['proxy-protocol']
        return port === 0 && proxy === undefined ? 0 : 0
      },
    }),
    defineVerb({
      name: 'call',
      summary: 'call',
      positionals: [targetPositional('socket')],
      options: clientOptions({ timeout: 3000, connectTimeout: 30_000 }),
      run: ({ values }) => {
        seen.values = values
        return 0
      },
    }),
  ],
})

describe('the shared option sets', () => {
  it('give serve its options, with the defaults and ranges in --help', async () => {
    const help = (await run(toy, ['serve', '--help'])).out
    for (const text of [
      '--host H',
      'address to listen on (default: 127.0.0.1)',
      '--port N',
      'port to listen on, 0 for a free one (0 to 65535, default: 7000)',
      '--socket PATH',
      '--tls-cert PATH',
      '--tls-key PATH',
      '--idle-timeout MS',
      '(0 or more, default: 60000)',
      '--max-connections N',
      '(1 or more, default: 1024)',
      '--proxy-protocol v1|v2|any',
    ]) {
      expect(help).toContain(text)
    }
    expect(await run(toy, ['serve'])).toMatchObject({ code: 0 })
    expect(seen.values).toEqual({
      host: '127.0.0.1',
      port: 7000,
      socket: undefined,
      'tls-cert': undefined,
      'tls-key': undefined,
      'idle-timeout': 60_000,
      'max-connections': 1024,
      'proxy-protocol': undefined,
    })
  })

  it.each([
    [['serve', '--port', '65536'], '--port 65536 is out of range (0 to 65535)'],
    [['serve', '--port', '-1'], '--port -1 is out of range (0 to 65535)'],
    [['serve', '--max-connections', '0'], '--max-connections 0 is out of range (1 or more)'],
    [['serve', '--proxy-protocol', 'v3'], '--proxy-protocol v3 is not one of v1, v2, any, did you mean v1?'],
    [['call', '127.0.0.1:1', '--timeout', '0'], '--timeout 0 is out of range (1 or more)'],
    [['call', '127.0.0.1:1', '--connect-timeout', 'soon'], '--connect-timeout soon is not an integer (1 or more)'],
    [['call'], 'missing HOST:PORT'],
  ])('%j is refused: %s', async (argv, message) => {
    const result = await run(toy, argv)
    expect(result.code).toBe(2)
    expect(result.err.split('\n')[0]).toBe(`toy: ${message} (ERR_PROTO_CLI_USAGE)`)
  })

  it('give client verbs their options, --socket standing in for HOST:PORT', async () => {
    expect(await run(toy, ['call', '--socket', '/tmp/s', '--tls', '--ca', 'ca.pem', '--json'])).toMatchObject({ code: 0 })
    expect(seen.values).toEqual({ timeout: 3000, 'connect-timeout': 30_000, json: true, tls: true, ca: 'ca.pem', socket: '/tmp/s' })
    const help = (await run(toy, ['call', '--help'])).out
    expect(help).toContain('Usage: toy call (HOST:PORT | --socket PATH) [options]')
    expect(help).toContain('--connect-timeout MS')
  })
})

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:5001', { host: '127.0.0.1', port: 5001 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
    ['[::1]:65535', { host: '::1', port: 65_535 }],
  ])('%s is %j', (text, target) => {
    expect(parseHostPort(text)).toEqual(target)
  })

  it.each([['localhost'], [':80'], ['::1:80'], ['host:'], ['host:0'], ['host:65536'], ['host:123456'], ['[::1]'], ['']])('refuses %j with ERR_PROTO_CLI_USAGE', (text) => {
    expect(() => parseHostPort(text)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_CLI_USAGE' }))
  })
})

describe('targets and TLS from option values', () => {
  it('listens on a unix socket with --socket, else on host and port', () => {
    expect(listenTarget({ host: '127.0.0.1', port: 0 })).toEqual({ host: '127.0.0.1', port: 0 })
    expect(listenTarget({ host: '127.0.0.1', port: 0, socket: '/run/s' })).toEqual({ path: '/run/s' })
  })

  it('connects to --socket, else to HOST:PORT', () => {
    expect(connectTarget('[::1]:9', {})).toEqual({ host: '::1', port: 9 })
    expect(connectTarget(undefined, { socket: '/run/s' })).toEqual({ path: '/run/s' })
    expect(() => connectTarget(undefined, {})).toThrow(expect.objectContaining({ code: 'ERR_PROTO_CLI_USAGE' }))
  })

  it('reads --tls-cert and --tls-key together, refuses one alone and names a file it cannot read', async () => {
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    expect(await serverTls({})).toBeUndefined()
    expect(await serverTls({ 'tls-cert': cert, 'tls-key': key })).toEqual({ cert: Buffer.from('CERT'), key: Buffer.from('KEY') })
    await expect(serverTls({ 'tls-cert': cert })).rejects.toMatchObject({ code: 'ERR_PROTO_CLI_USAGE', message: '--tls-cert and --tls-key go together' })
    await expect(serverTls({ 'tls-key': key })).rejects.toMatchObject({ code: 'ERR_PROTO_CLI_USAGE' })
    const missing = join(dir, 'nope.pem')
    await expect(serverTls({ 'tls-cert': cert, 'tls-key': missing })).rejects.toMatchObject({
      code: 'ERR_PROTO_CLI_READ',
      message: `cannot read ${missing}`,
      cause: expect.objectContaining({ code: 'ENOENT' }),
    })
  })

  it('makes client TLS options from --tls and --ca, --ca implying --tls', async () => {
    expect(await clientTls({})).toBeUndefined()
    expect(await clientTls({ tls: false })).toBeUndefined()
    expect(await clientTls({ tls: true })).toEqual({})
    expect(await clientTls({ ca: join(dir, 'cert.pem') })).toEqual({ ca: Buffer.from('CERT') })
  })
})
