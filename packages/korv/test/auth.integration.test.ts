import { EventEmitter, once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import type { Connection } from 'ssh2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from '../src/client.ts'
import type { KorvConnectOptions } from '../src/client.ts'
import { DEFAULT_LIMITS } from '../src/constants.ts'
import { checkCompression } from '../src/deflate.ts'
import { ErrorCode } from '../src/errors.ts'
import type { KorvError } from '../src/errors.ts'
import { parseAuthorizedKeys } from '../src/authorized-keys.ts'
import { ServerSession } from '../src/session.ts'
import type { SessionHost } from '../src/session.ts'
import { blobOf, fingerprintOf, keyPair, openRaw, startServer } from './helpers.ts'
import type { KeyKind, TestServer } from './helpers.ts'

const kinds: KeyKind[] = ['ed25519', 'rsa', 'ecdsa']
const hostKey = keyPair('ed25519', 0)
const clientKey = keyPair('ed25519', 1)
const stranger = keyPair('ed25519', 2)
const hostEntry = (port: number, key = hostKey.public): string => `[127.0.0.1]:${port} ${key}\n`

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'korv-auth-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const base = (t: TestServer, extra: Partial<KorvConnectOptions> = {}): KorvConnectOptions => ({
  host: '127.0.0.1',
  port: t.port,
  privateKey: clientKey.private,
  hostKeyFingerprint: fingerprintOf(t.hostKey.public),
  ...extra,
})

async function expectConnected(options: KorvConnectOptions): Promise<void> {
  const client = await connect(options)
  expect((await client.get('/hello')).code).toBe(200)
  await client.close()
}

describe('key types', () => {
  it.each(kinds.flatMap((host) => kinds.map((client) => [host, client] as const)))(
    '%s host key with a %s client key connects',
    async (hostKind, clientKind) => {
      const t = await startServer({ hostKey: keyPair(hostKind, 0), clientKey: keyPair(clientKind, 1) })
      await expectConnected(base(t, { privateKey: keyPair(clientKind, 1).private }))
      expect(t.clientErrors).toEqual([])
      await t.close()
    },
  )

  it('reads keys from files and decrypts passphrase-protected ones', async () => {
    const encrypted = ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256, passphrase: 'pw', cipher: 'aes256-ctr', rounds: 1 })
    await writeFile(join(dir, 'host'), hostKey.private)
    await writeFile(join(dir, 'authorized_keys'), `${encrypted.public}\n`)
    await writeFile(join(dir, 'client'), encrypted.private)
    const t = await startServer({ hostKeys: [{ key: { path: join(dir, 'host') } }], authorizedKeys: { path: join(dir, 'authorized_keys') } })
    await expectConnected(base(t, { privateKey: { path: join(dir, 'client') }, passphrase: 'pw' }))
    await expect(connect(base(t, { privateKey: { path: join(dir, 'client') }, passphrase: 'wrong' }))).rejects.toMatchObject({
      code: ErrorCode.BAD_KEY,
    })
    await expect(connect(base(t, { privateKey: { path: join(dir, 'missing') } }))).rejects.toMatchObject({ code: ErrorCode.BAD_KEY })
    await expect(connect(base(t, { privateKey: clientKey.public }))).rejects.toMatchObject({ code: ErrorCode.BAD_KEY })
    await t.close()
  })

  it('refuses to listen with an unreadable host key', async () => {
    await expect(startServer({ hostKeys: ['not a key'] })).rejects.toMatchObject({ code: ErrorCode.BAD_KEY })
    await expect(startServer({ hostKeys: [{ key: { path: join(dir, 'missing') } }] })).rejects.toMatchObject({ code: ErrorCode.BAD_KEY })
    await expect(startServer({ authorizedKeys: { path: join(dir, 'missing') } })).rejects.toMatchObject({ code: ErrorCode.BAD_KEY })
  })
})

describe('client authentication', () => {
  let t: TestServer
  beforeAll(async () => {
    t = await startServer()
  })
  afterAll(async () => {
    await t.close()
  })

  it('refuses an unknown key on both sides', async () => {
    const reported = t.nextClientError()
    await expect(connect(base(t, { privateKey: stranger.private }))).rejects.toMatchObject({ code: ErrorCode.AUTH_FAILED })
    expect(await reported).toMatchObject({ code: ErrorCode.AUTH_FAILED })
  })

  it('ends the connection after maxAuthAttempts refused keys', async () => {
    const limited = await startServer({ limits: { maxAuthAttempts: 2 } })
    const reported = limited.nextClientError()
    const ssh = new ssh2.Client()
    ssh.on('error', () => {})
    const strangers = [2, 3, 4, 5, 6].map((slot) => keyPair('ed25519', slot).private)
    const closed = once(ssh, 'close')
    let offered = 0
    ssh.connect({
      host: '127.0.0.1', port: limited.port, username: 'korv',
      authHandler: (_left, _partial, next) => {
        const key = strangers[offered++]
        next((key === undefined ? false : { type: 'publickey', username: 'korv', key }) as unknown as ssh2.AuthenticationType)
      },
    })
    expect(await reported).toMatchObject({ code: ErrorCode.AUTH_FAILED })
    await closed
    // The refusal of the second key ends it; a third may already be on its way.
    expect(offered).toBeLessThanOrEqual(3)
    await limited.close()
  })

  it('does not count the opening none request', async () => {
    const limited = await startServer({ limits: { maxAuthAttempts: 1 } })
    const ssh = new ssh2.Client()
    const ready = once(ssh, 'ready')
    ssh.connect({ host: '127.0.0.1', port: limited.port, username: 'someone', privateKey: clientKey.private, authHandler: ['none', 'publickey'] })
    await ready
    ssh.end()
    await limited.close()
  })

  it.each([
    ['from= another address', (k: string) => `from="10.0.0.1,!127.0.0.1" ${k}`],
    ['an expired key', (k: string) => `expiry-time="20000101" ${k}`],
  ])('refuses %s', async (_name, line) => {
    const restricted = await startServer({ authorizedKeys: `${line(clientKey.public)}\n` })
    await expect(connect(base(restricted))).rejects.toMatchObject({ code: ErrorCode.AUTH_FAILED })
    await restricted.close()
  })

  it('accepts from= and expiry-time that match', async () => {
    const ok = await startServer({ authorizedKeys: `from="127.0.0.*",expiry-time="29991231" ${clientKey.public}\n` })
    await expectConnected(base(ok))
    await ok.close()
  })

  it('fails closed on a line it cannot honour and uses the lines after it', async () => {
    const skipped = await startServer({ authorizedKeys: `principals="x" ${clientKey.public}\n` })
    await expect(connect(base(skipped))).rejects.toMatchObject({ code: ErrorCode.AUTH_FAILED })
    await skipped.close()
    const rest = await startServer({ authorizedKeys: `cert-authority ${stranger.public}\n${clientKey.public}\n` })
    await expectConnected(base(rest))
    await rest.close()
  })

  it('emits authorizedKeysError with the line number', async () => {
    const { createServer } = await import('../src/server.ts')
    const server = createServer({ hostKeys: [hostKey.private], authorizedKeys: `\nrestrict="x" ${clientKey.public}\n` })
    const errors: KorvError[] = []
    server.on('authorizedKeysError', (err) => errors.push(err))
    await server.listen({ host: '127.0.0.1', port: 0 })
    expect(errors).toEqual([expect.objectContaining({ code: ErrorCode.BAD_KEY_LINE, line: 2 })])
    await server.close()
  })
})

describe('channels', () => {
  it.each([
    ['restrict', 'restrict'],
    ['no-port-forwarding', 'no-port-forwarding'],
    ['a permitopen for another port', 'permitopen="127.0.0.1:1"'],
  ])('authenticates a %s key but refuses its channel', async (_name, options) => {
    const t = await startServer({ authorizedKeys: `${options} ${clientKey.public}\n` })
    const reported = t.nextClientError()
    await expect(connect(base(t))).rejects.toMatchObject({ code: ErrorCode.CHANNEL_REFUSED })
    expect(await reported).toMatchObject({ code: ErrorCode.CHANNEL_REFUSED })
    await t.close()
  })

  it('opens a channel that permitopen names', async () => {
    const probe = await startServer()
    const port = probe.port
    await probe.close()
    const t = await startServer({ authorizedKeys: `restrict,port-forwarding,permitopen="127.0.0.1:*" ${clientKey.public}\n` })
    expect(port).toBeGreaterThan(0)
    await expectConnected(base(t))
    await t.close()
  })

  it('refuses sessions (exec, shell, sftp) and remote forwarding', async () => {
    const t = await startServer()
    const raw = await openRaw(t.port, clientKey.private)
    await expect(new Promise((resolve, reject) => raw.ssh.exec('id', (err, ch) => (err ? reject(err) : resolve(ch))))).rejects.toThrow()
    await expect(new Promise((resolve, reject) => raw.ssh.sftp((err, s) => (err ? reject(err) : resolve(s))))).rejects.toThrow()
    await expect(new Promise((resolve, reject) => raw.ssh.forwardIn('127.0.0.1', 0, (err, p) => (err ? reject(err) : resolve(p))))).rejects.toThrow()
    raw.request({ id: 1, verb: 'GET', resource: '/hello' })
    expect(await raw.next()).toMatchObject({ code: 200 })
    await raw.close()
    await t.close()
  })

  it('gives handlers the username and the key that signed in', async () => {
    const seen: unknown[] = []
    const t = await startServer({ handlers: { GET: { '/who': (_request, ctx) => void seen.push([ctx.username, ctx.key, ctx.remote.address]) } } })
    const client = await connect(base(t, { username: 'alice' }))
    await client.get('/who')
    await client.close()
    const byDefault = await connect(base(t))
    await byDefault.get('/who')
    await byDefault.close()
    const key = { type: 'ssh-ed25519', fingerprint: fingerprintOf(clientKey.public) }
    expect(seen).toEqual([['alice', key, '127.0.0.1'], ['korv', key, '127.0.0.1']])
    await t.close()
  })
})

describe('host key verification', () => {
  let t: TestServer
  beforeAll(async () => {
    t = await startServer()
  })
  afterAll(async () => {
    await t.close()
  })
  const noFingerprint = (extra: Partial<KorvConnectOptions>): KorvConnectOptions => {
    const { hostKeyFingerprint: _f, ...rest } = base(t, extra)
    return { ...rest, ...extra }
  }

  it('accepts a matching fingerprint (one of several) and refuses another', async () => {
    await expectConnected(base(t, { hostKeyFingerprint: [fingerprintOf(stranger.public), fingerprintOf(hostKey.public)] }))
    await expect(connect(base(t, { hostKeyFingerprint: fingerprintOf(stranger.public) }))).rejects.toMatchObject({
      code: ErrorCode.HOST_KEY,
      fingerprint: fingerprintOf(hostKey.public),
    })
  })

  it('accepts a known_hosts line for the host and port, and refuses a wrong one', async () => {
    await expectConnected(noFingerprint({ knownHosts: hostEntry(t.port) }))
    await expectConnected(noFingerprint({ knownHosts: `# x\n127.0.0.1 ${stranger.public}\n[127.0.0.?]:${t.port},other ${hostKey.public}` }))
    await expect(connect(noFingerprint({ knownHosts: hostEntry(t.port, stranger.public) }))).rejects.toMatchObject({ code: ErrorCode.HOST_KEY })
    await expect(connect(noFingerprint({ knownHosts: `127.0.0.1 ${hostKey.public}\n` }))).rejects.toMatchObject({ code: ErrorCode.HOST_KEY })
    await expect(connect(noFingerprint({ knownHosts: `![127.0.0.1]:${t.port},* ${hostKey.public}\n` }))).rejects.toMatchObject({ code: ErrorCode.HOST_KEY })
  })

  it('refuses a @revoked host key even when another line trusts it', async () => {
    await expect(
      connect(noFingerprint({ knownHosts: `${hostEntry(t.port)}@revoked * ${hostKey.public}\n` })),
    ).rejects.toMatchObject({ code: ErrorCode.HOST_KEY })
  })

  it('reads known_hosts from a file; a missing file trusts nothing', async () => {
    await writeFile(join(dir, 'known_hosts'), hostEntry(t.port))
    await expectConnected(noFingerprint({ knownHosts: { path: join(dir, 'known_hosts') } }))
    await expect(connect(noFingerprint({ knownHosts: { path: join(dir, 'nope') } }))).rejects.toMatchObject({ code: ErrorCode.HOST_KEY })
  })

  it('defaults to ~/.ssh/known_hosts without a fingerprint', async () => {
    const home = process.env.HOME
    process.env.HOME = dir
    try {
      await expect(connect(noFingerprint({}))).rejects.toMatchObject({ code: ErrorCode.HOST_KEY })
      await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, '.ssh'), { recursive: true }))
      await writeFile(join(dir, '.ssh', 'known_hosts'), hostEntry(t.port))
      await expectConnected(noFingerprint({}))
    } finally {
      process.env.HOME = home
    }
  })

  it('skips the check only with insecureAcceptAnyHostKey alone', async () => {
    await expectConnected(noFingerprint({ insecureAcceptAnyHostKey: true }))
    await expect(connect(base(t, { insecureAcceptAnyHostKey: true }))).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    await expect(connect(noFingerprint({ insecureAcceptAnyHostKey: true, knownHosts: '' }))).rejects.toMatchObject({
      code: 'ERR_PROTO_USAGE',
    })
  })

  it('reports a refused host key on the server side too, without authenticating', async () => {
    const reported = t.nextClientError()
    await expect(connect(base(t, { hostKeyFingerprint: 'SHA256:nope' }))).rejects.toMatchObject({ code: ErrorCode.HOST_KEY })
    expect(await reported).toMatchObject({ code: ErrorCode.CLOSED })
  })
})

describe('rsa-sha2 query answer (mscdex/ssh2#1380)', () => {
  function session(authorizedKeys: string): { conn: EventEmitter; session: ServerSession } {
    const host: SessionHost = {
      limits: DEFAULT_LIMITS,
      encoding: { maxMessageBytes: DEFAULT_LIMITS.maxMessageBytes, compression: checkCompression() },
      exposeErrors: false,
      closing: false,
      authorizedKeys: parseAuthorizedKeys(authorizedKeys, () => {}),
      route: () => undefined,
      clientError: () => {},
      handlerError: () => {},
      handlerStarted: () => {},
      handlerSettled: () => {},
    }
    const socket = Object.assign(new EventEmitter(), { destroy: () => {} }) as unknown as Socket
    const s = new ServerSession(host, socket, { address: '127.0.0.1', port: 1 })
    const conn = Object.assign(new EventEmitter(), { end: () => {} })
    s.attach(conn as unknown as Connection)
    return { conn, session: s }
  }

  it.each([
    ['sha256', 'rsa-sha2-256'],
    ['sha512', 'rsa-sha2-512'],
  ])('names the requested algorithm (%s) in PK_OK', (hashAlgo, algo) => {
    const rsa = keyPair('rsa', 1).public
    const { conn, session: s } = session(`${rsa}\n`)
    const key = { algo: 'ssh-rsa', data: blobOf(rsa) }
    let accepted = ''
    const ctx = { method: 'publickey', username: 'korv', key, hashAlgo, accept: () => (accepted = key.algo), reject: () => {} }
    conn.emit('authentication', ctx)
    s.end()
    expect(accepted).toBe(algo)
  })
})
