import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../src/cli.ts'
import { keyPair, startServer } from './helpers.ts'
import type { TestServer } from './helpers.ts'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) })
  return { code, stdout, stderr }
}

let dir: string
let t: TestServer
let target: string
const file = (name: string): string => join(dir, name)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'korv-cli-'))
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
    expect(boom).toMatchObject({ code: 1, stdout: '{"code":500,"body":{"message":"kaboom"}}\n' })
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
    [['request', target, 'GET']],
    [['request', target, 'PATCH', '/x', '--key', 'k', '--insecure-accept-any-host-key']],
    [['request', target, 'GET', '/x', '--insecure-accept-any-host-key']],
    [['request', target, 'GET', '/x', '--key', 'k']],
    [['request', target, 'GET', '/x', '--key', 'k', '--known-hosts', 'h', '--insecure-accept-any-host-key']],
    [['request', 'nohost', 'GET', '/x', '--key', 'k', '--insecure-accept-any-host-key']],
    [['request', target, 'STORE', '/x', '{bad', '--key', 'k', '--insecure-accept-any-host-key']],
    [['request', target, 'GET', '/x', '--key', 'k', '--insecure-accept-any-host-key', '--timeout', 'soon']],
    [['--no-such-flag']],
    [['serve', '--host-key', 'k']],
  ])('exits 2 with usage on stderr for %j', async (argv) => {
    const result = await run(...argv)
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('usage:')
    expect(result.stdout).toBe('')
  })

  it('prints usage with --help and exits 0', async () => {
    expect(await run('--help')).toMatchObject({ code: 0, stdout: expect.stringContaining('korv serve'), stderr: '' })
    expect((await run('request', '-h')).code).toBe(0)
  })
})

describe('korv serve (built CLI)', () => {
  it('prints the listening line, serves the demo handlers and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--host-key', file('host_key'), '--authorized-keys', file('authorized_keys')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const exited = once(child, 'exit')
    const [line] = (await once(child.stdout, 'data')) as [Buffer]
    const m = /^listening 127\.0\.0\.1:(\d+)\n$/.exec(line.toString())
    expect(m).not.toBeNull()
    const port = m?.[1] ?? ''
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
    expect(await exited).toEqual([0, null])
  })

  it('refuses to start without the key flags', async () => {
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    expect(await once(child, 'exit')).toEqual([2, null])
    expect(stderr).toContain('--host-key')
  })
})
