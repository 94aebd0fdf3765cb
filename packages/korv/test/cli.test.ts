import { Buffer } from 'node:buffer'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { cliCases, runMain, spawnServe } from '@proto/framing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli as definition, main } from '../src/cli.ts'
import { keyPair, pythonGzip, startServer, startStub, textVectors } from './helpers.ts'
import type { TestServer } from './helpers.ts'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runWith(argv)
}

async function runWith(argv: string[], stdin?: Readable): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, out, err } = await runMain(main, argv, stdin === undefined ? {} : { stdin })
  return { code, stdout: out, stderr: err }
}

const dir = mkdtempSync(join(tmpdir(), 'korv-cli-'))
let t: TestServer
const keyFile = (name: string): string => join(dir, name)
let target: string
const file = (name: string): string => join(dir, name)

beforeAll(async () => {
  t = await startServer()
  target = `127.0.0.1:${t.port}`
  await writeFile(file('client_key'), t.clientKey.private)
  await writeFile(file('host_key'), t.hostKey.private)
  await writeFile(file('authorized_keys'), `${t.clientKey.public}\n`)
  await writeFile(file('known_hosts'), `[127.0.0.1]:${t.port} ${t.hostKey.public}\n`)
  await writeFile(file('wrong_hosts'), `[127.0.0.1]:${t.port} ${keyPair('ed25519', 2).public}\n`)
})
afterAll(async () => {
  await t.close()
  await rm(dir, { recursive: true, force: true })
})

describe('korv request', () => {
  const known = (): string[] => ['--key', file('client_key'), '--known-hosts', file('known_hosts')]

  it('prints {"code","body"} and exits 0 below 400', async () => {
    expect(await run('request', target, 'GET', '/hello', ...known())).toEqual({
      code: 0,
      stdout: '{"code":200,"body":{"msg":"Hello World!"}}\n',
      stderr: '',
    })
    const stored = await run('request', target, 'STORE', '/items', '{"name":"é"}', ...known(), '--json')
    expect(stored).toMatchObject({ code: 0, stdout: '{"code":200,"body":{"stored":{"name":"\\u00e9"}}}\n' })
  })

  it('exits 1 when the server answers 400 or more', async () => {
    expect(await run('request', target, 'GET', '/nope', ...known())).toMatchObject({ code: 1, stdout: '{"code":404,"body":null}\n' })
    const boom = await run('request', target, 'GET', '/boom', '--key', file('client_key'), '--insecure-accept-any-host-key')
    expect(boom).toMatchObject({ code: 1, stdout: '{"code":500,"body":{"message":"kaboom"}}\n', stderr: 'korv: the server answered 500: kaboom\n' })
  })

  it('exits 2 on a connection error, with the error as JSON under --json', async () => {
    const refused = await run('request', target, 'GET', '/hello', '--key', file('client_key'), '--known-hosts', file('wrong_hosts'), '--json')
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('ERR_KORV_HOST_KEY')
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'ERR_KORV_HOST_KEY', message: expect.any(String) } })
    const unknownKey = await run('request', target, 'GET', '/hello', '--key', file('host_key'), '--insecure-accept-any-host-key')
    expect(unknownKey).toMatchObject({ code: 2, stdout: '' })
    expect(unknownKey.stderr).toContain('ERR_KORV_AUTH_FAILED')
  })

  it.each([
    [[]],
    [['bogus']],
    [['request', '127.0.0.1:1', 'GET']],
    [['request', '127.0.0.1:1', 'PATCH', '/x', '--key', 'k', '--insecure-accept-any-host-key']],
    [['request', '127.0.0.1:1', 'GET', '/x', '--insecure-accept-any-host-key']],
    [['request', '127.0.0.1:1', 'GET', '/x', '--key', 'k']],
    [['request', '127.0.0.1:1', 'GET', '/x', '--key', 'k', '--known-hosts', 'h', '--insecure-accept-any-host-key']],
    [['request', 'nohost', 'GET', '/x', '--key', 'k', '--insecure-accept-any-host-key']],
    [['request', '127.0.0.1:1', 'STORE', '/x', '{bad', '--key', 'k', '--insecure-accept-any-host-key']],
    [['request', '127.0.0.1:1', 'GET', '/x', '--key', 'k', '--insecure-accept-any-host-key', '--timeout', 'soon']],
    [['--no-such-flag']],
    [['serve', '--host-key', 'k']],
  ])('exits 2 with usage on stderr for %j', async (argv) => {
    const result = await run(...argv)
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('(ERR_PROTO_CLI_USAGE)')
    expect(result.stdout).toBe('')
  })

  it('explains every verb and option with --help and exits 0', async () => {
    const help = await run('--help')
    expect(help).toMatchObject({ code: 0, stderr: '' })
    for (const text of ['korv serve', 'korv request', 'korv decode', '--proxy-protocol', '--max-channel-reply-bytes', '--connect-timeout', '--socket']) {
      expect(help.stdout).toContain(text)
    }
    expect((await run('request', '-h')).code).toBe(0)
  })
})

describe('korv serve (built CLI)', () => {
  it('prints the listening line, serves the demo handlers and stops on SIGTERM', async () => {
    const { child, address, port, exit } = await spawnServe(cli, ['serve', '--port', '0', '--host-key', file('host_key'), '--authorized-keys', file('authorized_keys')])
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/)
    await writeFile(file('serve_hosts'), `[127.0.0.1]:${port} ${t.hostKey.public}\n`)
    const request = (...args: string[]): Promise<{ code: number; stdout: string }> =>
      run('request', `127.0.0.1:${port}`, ...args, '--key', file('client_key'), '--known-hosts', file('serve_hosts'))
    expect(await request('STORE', '/items', '{"name":"a","n":1}')).toMatchObject({ code: 0, stdout: '{"code":200,"body":{"stored":{"name":"a","n":1}}}\n' })
    expect(await request('UPDATE', '/items', '{"name":"a","n":2}')).toMatchObject({ stdout: '{"code":200,"body":{"updated":{"name":"a","n":2}}}\n' })
    expect(await request('GET', '/items')).toMatchObject({ stdout: '{"code":200,"body":[{"name":"a","n":2}]}\n' })
    expect(await request('GET', '/echo', '[1,"x"]')).toMatchObject({ stdout: '{"code":200,"body":[1,"x"]}\n' })
    expect(await request('DELETE', '/items')).toMatchObject({ stdout: '{"code":200,"body":null}\n' })
    expect(await request('GET', '/items')).toMatchObject({ stdout: '{"code":200,"body":[]}\n' })
    child.kill('SIGTERM')
    expect(await exit).toBe(0)
  })

  it('takes --idle-timeout 0, which its help calls never', async () => {
    const { child, exit } = await spawnServe(cli, ['serve', '--port', '0', '--idle-timeout', '0', '--host-key', file('host_key'), '--authorized-keys', file('authorized_keys')])
    child.kill('SIGTERM')
    expect(await exit).toBe(0)
  })

  it('refuses to start without the key flags', async () => {
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Uint8Array) => (stderr += String(chunk)))
    expect(await once(child, 'exit')).toEqual([2, null])
    expect(stderr).toContain('--host-key')
  })
})

describe('the shared CLI table', () => {
  // A korv server whose 500 reply carries terminal controls in its message.
  const hostilePeer = async () => {
    const hostile = '\u001b]0;pwned\u0007 \u001b[2J'
    return startStub((request) => [pythonGzip(JSON.stringify({ id: 1, request_id: request.id, code: 500, body: { message: hostile } }))])
  }
  for (const conformance of cliCases({
    bin: cli,
    cli: definition,
    serveArgs: ['--host-key', keyFile('host_key'), '--authorized-keys', keyFile('authorized_keys')],
    client: (target) => ['request', target, 'GET', '/x', '--key', keyFile('client_key'), '--insecure-accept-any-host-key'],
    fakePeer: hostilePeer,
  })) {
    it(conformance.name, () => conformance.run())
  }
})

describe('korv decode', () => {
  // The vectors that hold one JSON message each (others are two messages, or a cut one).
  const messages = textVectors.filter((v) => {
    try {
      JSON.parse(v.bytes.toString('utf8'))
      return true
    } catch {
      return false
    }
  })
  const capture = (): Buffer => Buffer.concat(messages.map((v) => pythonGzip(v.bytes)))

  it('prints each message of the shared vectors with its offset, and exits 0', async () => {
    const bytes = capture()
    const result = await runWith(['decode', '-'], Readable.from([bytes.subarray(0, 7), bytes.subarray(7, 1000), bytes.subarray(1000)]))
    expect(result.code).toBe(0)
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { offset: number; frame: unknown })
    expect(messages.length).toBeGreaterThan(20)
    expect(lines.map((l) => l.frame)).toEqual(messages.map((v) => JSON.parse(v.bytes.toString('utf8')) as unknown))
    let offset = 0
    for (const [i, v] of messages.entries()) {
      expect(lines[i]?.offset).toBe(offset)
      offset += pythonGzip(v.bytes).length
    }
  })

  it('reports bytes that are not a member, with their offset and code, goes on, and exits 1', async () => {
    const good = pythonGzip('{"id":1,"verb":"GET","resource":"/hello"}')
    const bytes = Buffer.concat([good, Buffer.from('garbage'), good])
    const result = await runWith(['decode', '-'], Readable.from([bytes]))
    expect(result.code).toBe(1)
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toEqual([
      { offset: 0, frame: { id: 1, verb: 'GET', resource: '/hello' } },
      { offset: good.length, error: { code: 'ERR_KORV_BAD_MESSAGE', message: 'not a gzip member' } },
      { offset: good.length + 7, frame: { id: 1, verb: 'GET', resource: '/hello' } },
    ])
  })
})
