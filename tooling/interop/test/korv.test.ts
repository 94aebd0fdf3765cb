// korv against the Python original (korv on asyncssh), both ways over 127.0.0.1: its KorvClient
// against our server and our client against its KorvServer, with Ed25519, ECDSA and RSA keys
// made at test time and host keys checked, and raw SSH channels for every bug of the original
// that our server fixes, with the original as the negative control.
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import ssh2 from 'ssh2'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadVectors } from '@proto/framing/testing'
import { defer, temporaryDirectory } from '@proto/vitest-config/cleanup'
import { DRIVER_WAIT, startDriver } from './driver.ts'
import type { Driver } from './driver.ts'
import { interopEnvironment } from './environment.ts'
import { keyPair, knownHostsLine, publicBlob } from './keys.ts'
import type { KeyType, SshKeyPair } from './keys.ts'
import { korvClient, korvConnectError, korvRequestCli, korvServer, member, messageDecoder } from './ours/korv.ts'
import type { KorvServerSide } from './ours/korv.ts'

interopEnvironment()

const vectors = loadVectors('korv')
const wire = (name: string): Buffer => vectors.find((v) => v.name === name)?.bytes ?? expect.unreachable(name)

const UNICODE = 'héllo wörld ✓ 日本語 🎉'
/**
 * A large body whose message still fits in one SSH packet (32 768 bytes) once compressed, the
 * most the original reads as one message: it decodes each packet alone.
 */
const LARGE = Array.from({ length: 2_000 }, (_, i) => i.toString(16).padStart(8, '0')).join('')

/** Host and client key types, paired so that every type is tried in both roles. */
const PAIRS: [host: KeyType, client: KeyType][] = [
  ['ed25519', 'rsa'],
  ['ecdsa', 'ed25519'],
  ['rsa', 'ecdsa'],
]

let dir: string
let hosts: Record<KeyType, SshKeyPair>
let clients: Record<KeyType, SshKeyPair>
let stranger: SshKeyPair
let impostor: SshKeyPair
let authorizedKeys: string
/** Our server and the original's for each host key type, shared by the tests: both serve each
 * connection on its own, and starting the original (asyncssh) takes most of a second. */
let ours: Record<KeyType, KorvServerSide>
let originals: Record<KeyType, { driver: Driver; port: number }>

beforeAll(async () => {
  dir = await temporaryDirectory('korv-keys-')
  const types: KeyType[] = ['ed25519', 'ecdsa', 'rsa']
  hosts = Object.fromEntries(await Promise.all(types.map(async (type) => [type, await keyPair(dir, `host_${type}`, type)]))) as Record<KeyType, SshKeyPair>
  clients = Object.fromEntries(await Promise.all(types.map(async (type) => [type, await keyPair(dir, `client_${type}`, type)]))) as Record<KeyType, SshKeyPair>
  stranger = await keyPair(dir, 'stranger', 'ed25519')
  impostor = await keyPair(dir, 'impostor', 'ed25519')
  authorizedKeys = types.map((type) => `${clients[type].public} client-${type}\n`).join('')
  await writeFile(join(dir, 'authorized_keys'), authorizedKeys)
  const servers = await Promise.all(types.map(async (type) => [type, await ourServer(hosts[type]), await originalServer(hosts[type])] as const))
  ;({ driver: originalClients } = await startDriver('korv', 'korv_client.py', [], 'ready'))
  ours = Object.fromEntries(servers.map(([type, server]) => [type, server])) as Record<KeyType, KorvServerSide>
  originals = Object.fromEntries(servers.map(([type, , original]) => [type, original])) as Record<KeyType, { driver: Driver; port: number }>
})

let knownHostsFiles = 0

/** Resolves once `signal` has aborted, already or still to come. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return once(signal, 'abort').then(() => {})
}

/** A known_hosts file trusting `key` for 127.0.0.1 at `port`. */
async function knownHostsFile(port: number, key: SshKeyPair): Promise<string> {
  const path = join(dir, `known_hosts_${knownHostsFiles++}`)
  await writeFile(path, knownHostsLine(port, key))
  return path
}

/** The original client's driver: one process, each `connect` a KorvClient of its own. */
let originalClients: Driver

/** A KorvClient connected to `port` with `key`, trusting `trusted` as the host key ('none': no check). */
async function originalClient(port: number, key: SshKeyPair, trusted: SshKeyPair | 'none'): Promise<{ client: number } | { refused: string }> {
  const known = trusted === 'none' ? null : await knownHostsFile(port, trusted)
  return originalClients.call('connect', { port, key: key.path, known_hosts: known })
}

/** The number of a connected KorvClient; fails the test if it was refused. */
async function connected(port: number, key: SshKeyPair, trusted: SshKeyPair): Promise<number> {
  const outcome = await originalClient(port, key, trusted)
  if (!('client' in outcome)) throw new Error(`the original client was refused: ${JSON.stringify(outcome)}`)
  return outcome.client
}

async function originalServer(host: SshKeyPair): Promise<{ driver: Driver; port: number }> {
  const { driver, ready } = await startDriver('korv', 'korv_server.py', [host.path, join(dir, 'authorized_keys')], 'listening')
  return { driver, port: ready['port'] as number }
}

async function ourServer(host: SshKeyPair) {
  return korvServer({ hostKey: host.private, authorizedKeys })
}

describe('the original client against our server', () => {
  it.each(PAIRS)('connects with a %s host key, checked, and a %s client key', async (hostType, clientType) => {
    // An RSA client key makes asyncssh ask with rsa-sha2-256 first, which our server must
    // accept under that name.
    const client = await connected(ours[hostType].port, clients[clientType], hosts[hostType])
    expect(await originalClients.call('get', { client, resource: '/hello' })).toMatchObject({ code: 200, body: { msg: 'Hello World!' } })
  })

  it('is refused with a key not in authorized_keys, or when the host key is not the one it knows', async () => {
    const { port } = ours.ed25519
    expect(await originalClient(port, stranger, hosts.ed25519)).toMatchObject({ refused: 'PermissionDenied' })
    // Another key of the same type, so that the key exchange agrees and the check itself fails.
    expect(await originalClient(port, clients.ed25519, impostor)).toMatchObject({ refused: 'HostKeyNotVerifiable' })
  })

  it('uses all four verbs with UTF-8, empty and large bodies, and gets 404 and 500', async () => {
    const client = await connected(ours.ed25519.port, clients.ed25519, hosts.ed25519)
    const get = (body?: unknown) => originalClients.call('get', { client, resource: '/echo', ...(body === undefined ? {} : { body }) })
    expect(await get({ text: UNICODE })).toMatchObject({ code: 200, body: { text: UNICODE } })
    expect(await get()).toMatchObject({ code: 200, body: null })
    expect(await get(LARGE)).toMatchObject({ code: 200, body: LARGE })
    const item = { name: 'é', n: 1 }
    const replies = await originalClients.call('requests', {
      client,
      calls: [
        { verb: 'STORE', resource: '/items', body: item },
        { verb: 'UPDATE', resource: '/items', body: { ...item, n: 2 } },
        { verb: 'GET', resource: '/items' },
        { verb: 'DELETE', resource: '/items', body: { name: 'é' } },
        { verb: 'GET', resource: '/items' },
        { verb: 'GET', resource: '/nosuch' },
        { verb: 'GET', resource: '/boom' },
      ],
    })
    expect(replies).toMatchObject([
      { code: 200, body: { stored: item } },
      { code: 200, body: { updated: { ...item, n: 2 } } },
      { code: 200, body: [{ ...item, n: 2 }] },
      { code: 200, body: null },
      { code: 200, body: [] },
      { code: 404, body: null },
      { code: 500, body: { message: 'kaboom' } },
    ])
  })

  it('keeps many requests in flight on one channel', async () => {
    const client = await connected(ours.ecdsa.port, clients.ecdsa, hosts.ecdsa)
    const calls = Array.from({ length: 20 }, (_, i) => ({ verb: 'GET', resource: '/echo', body: `${i} ${UNICODE}` }))
    expect(await originalClients.call('requests', { client, calls })).toMatchObject(calls.map(({ body }) => ({ code: 200, body })))
  })

  it('sees the original client close cleanly, and another drop its connection, and serves the next', async () => {
    const server = ours.ed25519
    for (const ending of ['close', 'abort']) {
      const client = await connected(server.port, clients.ed25519, hosts.ed25519)
      const holding = server.nextHold()
      // Never answered: the connection is closed under it, which fails the call in the driver.
      originalClients.call('requests', { client, calls: [{ verb: 'GET', resource: '/hold' }] }).catch(() => {})
      const held = await holding
      await originalClients.call(ending, { client })
      // The request it left waiting is aborted when its channel goes.
      await aborted(held)
    }
    const next = await connected(server.port, clients.ed25519, hosts.ed25519)
    expect(await originalClients.call('get', { client: next, resource: '/hello' })).toMatchObject({ code: 200 })
  })
})

describe('our client against the original server', () => {
  it.each(PAIRS)('connects to a %s host key, checked, with a %s client key', async (hostType, clientType) => {
    const { port } = originals[hostType]
    const client = await korvClient({ port, privateKey: clients[clientType].private, knownHosts: knownHostsLine(port, hosts[hostType]) })
    expect(await client.request('GET', '/hello')).toEqual({ code: 200, body: { msg: 'Hello World!' } })
  })

  it('is refused with a key not in authorized_keys, and refuses a host key it does not know', async () => {
    const { port } = originals.ed25519
    expect(await korvConnectError({ port, privateKey: stranger.private, knownHosts: knownHostsLine(port, hosts.ed25519) })).toBe('ERR_KORV_AUTH_FAILED')
    expect(await korvConnectError({ port, privateKey: clients.ed25519.private, knownHosts: knownHostsLine(port, impostor) })).toBe('ERR_KORV_HOST_KEY')
  })

  it('uses all four verbs with UTF-8, empty and large bodies, and gets 404 and 500', async () => {
    const { driver, port } = originals.ed25519
    const client = await korvClient({ port, privateKey: clients.ed25519.private, knownHosts: knownHostsLine(port, hosts.ed25519) })
    expect(await client.request('GET', '/echo', { text: UNICODE })).toEqual({ code: 200, body: { text: UNICODE } })
    expect(await client.request('GET', '/echo')).toEqual({ code: 200, body: null })
    expect(await client.request('GET', '/echo', LARGE)).toEqual({ code: 200, body: LARGE })
    const item = { name: 'é', n: 1 }
    // The original first answers every STORE and UPDATE with a 400 for request_id 0, which our
    // client drops, as the spec decides: each call gets its own 200.
    expect(await client.request('STORE', '/items', item)).toEqual({ code: 200, body: { stored: item } })
    expect(await client.request('UPDATE', '/items', { ...item, n: 2 })).toEqual({ code: 200, body: { updated: { ...item, n: 2 } } })
    expect((await client.request('GET', '/items')).body).toContainEqual({ ...item, n: 2 })
    expect(await client.request('DELETE', '/items', { name: 'é' })).toEqual({ code: 200, body: null })
    expect((await client.request('GET', '/items')).body).not.toContainEqual({ ...item, n: 2 })
    expect(await client.request('GET', '/nosuch')).toEqual({ code: 404, body: null })
    // The original sends its traceback with a 500: the spec records it as its behaviour.
    const boom = await client.request('GET', '/boom')
    expect(boom).toMatchObject({ code: 500, body: { message: 'kaboom' } })
    expect((boom.body as { traceback: string }).traceback).toMatch(/^Traceback[^]*ValueError: kaboom\n$/)
    expect(driver.seen('handled').map((e) => `${String(e['verb'])} ${String(e['resource'])}`)).toContain('STORE /items')
  })

  it('keeps many requests in flight on one channel', async () => {
    const { port } = originals.rsa
    const client = await korvClient({ port, privateKey: clients.rsa.private, knownHosts: knownHostsLine(port, hosts.rsa) })
    const bodies = Array.from({ length: 20 }, (_, i) => `${i} ${UNICODE}`)
    expect(await Promise.all(bodies.map((body) => client.request('GET', '/echo', body)))).toEqual(bodies.map((body) => ({ code: 200, body })))
  })

  it('answers `korv request`, which exits 1 from 400 up', async () => {
    const { port } = originals.ed25519
    const options = { key: clients.ed25519.path, knownHosts: await knownHostsFile(port, hosts.ed25519) }
    const hello = await korvRequestCli(port, 'GET', '/hello', undefined, options)
    expect(hello.code).toBe(0)
    expect(JSON.parse(hello.stdout)).toEqual({ code: 200, body: { msg: 'Hello World!' } })
    const stored = await korvRequestCli(port, 'STORE', '/items', { name: 'cli' }, options)
    expect(JSON.parse(stored.stdout)).toEqual({ code: 200, body: { stored: { name: 'cli' } } })
    expect(await korvRequestCli(port, 'GET', '/nosuch', undefined, options)).toMatchObject({ code: 1 })
  })

  it('closes cleanly, then cuts a connection, and the original goes on serving', async () => {
    const { driver, port } = originals.ed25519
    const options = { port, privateKey: clients.ed25519.private, knownHosts: knownHostsLine(port, hosts.ed25519) }
    const lost = driver.seen('lost').length
    const first = await korvClient(options)
    expect(await first.request('GET', '/hello')).toMatchObject({ code: 200 })
    await Promise.all([first.close(), driver.event('lost', () => driver.seen('lost').length > lost)])
    const second = await korvClient(options)
    expect(await second.request('GET', '/hello')).toMatchObject({ code: 200 })
    await second.abort()
    await driver.event('lost', () => driver.seen('lost').length > lost + 1)
    const third = await korvClient(options)
    expect(await third.request('GET', '/hello')).toEqual({ code: 200, body: { msg: 'Hello World!' } })
  })
})

/** A reply as a raw channel decodes it. */
interface Reply {
  readonly request_id: unknown
  readonly code: unknown
  readonly body: unknown
}

/**
 * An SSH connection made with ssh2 itself and one direct-tcpip channel on it, writing exactly the
 * bytes a case gives, one write per SSH packet, and decoding every reply.
 */
class RawChannel {
  readonly replies: Reply[] = []
  readonly errors: Error[] = []
  /** Resolves when the SSH connection has closed. */
  readonly connectionClosed: Promise<void>
  /** Resolves when the server has ended (EOF) or closed the channel. */
  channelEnded!: Promise<void>
  readonly #client: ssh2.Client
  #channel!: ssh2.ClientChannel
  readonly #waiters: { test: () => boolean; resolve: () => void }[] = []

  private constructor(client: ssh2.Client) {
    this.#client = client
    this.connectionClosed = new Promise((resolve) => client.once('close', () => resolve()))
  }

  static async open(port: number, key: SshKeyPair, host: SshKeyPair): Promise<RawChannel> {
    const client = new ssh2.Client()
    const raw = new RawChannel(client)
    defer(() => {
      client.end()
      client.destroy()
    })
    // What happens to the connection is the case's outcome, not a crash: kept for a failure's message.
    client.on('error', (err) => raw.errors.push(err))
    const hostBlob = publicBlob(host)
    client.connect({
      host: '127.0.0.1',
      port,
      username: 'korv',
      privateKey: key.private,
      algorithms: { compress: ['none'] },
      hostVerifier: (blob: Buffer) => blob.equals(hostBlob),
    })
    await once(client, 'ready')
    raw.#channel = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
      client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (err, channel) => (err ? reject(err) : resolve(channel))),
    )
    raw.#read(raw.#channel)
    return raw
  }

  #read(channel: ssh2.ClientChannel): void {
    const decoder = messageDecoder()
    channel.on('data', (chunk: Buffer) => {
      void decoder.push(chunk).then((messages) => {
        for (const message of messages) this.replies.push(message as Reply)
        for (const waiter of [...this.#waiters]) {
          if (waiter.test()) {
            this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
            waiter.resolve()
          }
        }
      })
    })
    this.channelEnded = Promise.race([once(channel, 'end'), once(channel, 'close')]).then(() => {})
  }

  /** Writes `bytes` as one channel write: one SSH packet. */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.#channel.write(bytes, (err?: Error | null) => (err ? reject(err) : resolve())))
  }

  /** Sends the channel's EOF. */
  end(): void {
    this.#channel.end()
  }

  /** A second channel on the same connection, for the cases that check the connection lives on. */
  async another(port: number): Promise<RawChannel> {
    const other = new RawChannel(this.#client)
    other.#channel = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
      this.#client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (err, channel) => (err ? reject(err) : resolve(channel))),
    )
    other.#read(other.#channel)
    return other
  }

  /** Resolves once a reply for `requestId` has come, or rejects when the connection closes first. */
  reply(requestId: unknown): Promise<Reply> {
    const find = (): Reply | undefined => this.replies.find((reply) => reply.request_id === requestId)
    const found = find()
    if (found !== undefined) return Promise.resolve(found)
    let timer: NodeJS.Timeout | undefined
    return Promise.race([
      new Promise<Reply>((resolve) => this.#waiters.push({ test: () => find() !== undefined, resolve: () => resolve(find() as Reply) })),
      this.connectionClosed.then(() => {
        throw new Error(`the connection closed before a reply to ${String(requestId)}; replies: ${JSON.stringify(this.replies)}; errors: ${this.errors.join(', ')}`)
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no reply to ${String(requestId)}; replies: ${JSON.stringify(this.replies)}`)), DRIVER_WAIT)
      }),
    ]).finally(() => clearTimeout(timer))
  }

  /** Resolves once `count` replies have come. */
  async count(count: number): Promise<void> {
    if (this.replies.length >= count) return
    await new Promise<void>((resolve) => this.#waiters.push({ test: () => this.replies.length >= count, resolve }))
  }
}

const hello = (id: number): Uint8Array => member({ id, verb: 'GET', resource: '/hello', body: null })

describe('original bugs our server fixes, with the original as the negative control', () => {
  /** Our server and the original's, each with a raw channel open to it. */
  async function both(): Promise<{ toOurs: RawChannel; original: RawChannel; ourPort: number }> {
    const ourPort = ours.ed25519.port
    return {
      toOurs: await RawChannel.open(ourPort, clients.ed25519, hosts.ed25519),
      original: await RawChannel.open(originals.ed25519.port, clients.ed25519, hosts.ed25519),
      ourPort,
    }
  }

  it('answers a message that is not gzip with a 400 and goes on (the original drops the whole connection)', async () => {
    const { toOurs, original } = await both()
    await toOurs.write(wire('malformed-not-gzip-request'))
    expect(await toOurs.reply(0)).toMatchObject({ code: 400, body: { message: 'Unable to process request' } })
    await toOurs.write(hello(1))
    expect(await toOurs.reply(1)).toMatchObject({ code: 200 })
    await original.write(wire('malformed-not-gzip-request'))
    expect(await original.reply(0)).toMatchObject({ code: 400, body: { message: 'Unable to process request' } })
    await original.connectionClosed
  })

  it('answers a STORE once (the original first sends a 400 with request_id 0)', async () => {
    const { toOurs, original } = await both()
    const store = JSON.parse(wire('store-request').toString('utf8')) as object
    for (const raw of [toOurs, original]) {
      await raw.write(member(store))
      await raw.write(hello(6))
      await raw.reply(6)
    }
    expect(toOurs.replies.map((reply) => [reply.request_id, reply.code])).toEqual([
      [(store as { id: number }).id, 200],
      [6, 200],
    ])
    expect(original.replies.map((reply) => [reply.request_id, reply.code])).toEqual([
      [0, 400],
      [(store as { id: number }).id, 200],
      [6, 200],
    ])
  })

  it('joins a gzip member split over two SSH packets (the original fails each half and drops the connection)', async () => {
    const { toOurs, original } = await both()
    const whole = gzipSync(wire('get-hello-request'))
    const id = (JSON.parse(wire('get-hello-request').toString('utf8')) as { id: number }).id
    for (const raw of [toOurs, original]) {
      await raw.write(whole.subarray(0, 20))
      await raw.write(whole.subarray(20))
    }
    expect(await toOurs.reply(id)).toMatchObject({ code: 200, body: { msg: 'Hello World!' } })
    await original.connectionClosed
    expect(original.replies.map((reply) => [reply.request_id, reply.code])).toEqual([[0, 400]])
  })

  it('separates two gzip members in one SSH packet (the original fails them and drops the connection)', async () => {
    const { toOurs, original } = await both()
    const [first, second] = wire('two-gzip-members-in-one-packet').toString('utf8').split(/(?<=\})(?=\{)/)
    const packet = Buffer.concat([gzipSync(first ?? ''), gzipSync(second ?? '')])
    await toOurs.write(packet)
    await original.write(packet)
    expect(await toOurs.reply(9)).toMatchObject({ code: 200 })
    expect(await toOurs.reply(10)).toMatchObject({ code: 200 })
    await original.connectionClosed
    expect(original.replies.map((reply) => [reply.request_id, reply.code])).toEqual([[0, 400]])
  })

  it('answers an unknown verb with 400 (the original says 404)', async () => {
    const { toOurs, original } = await both()
    const request = gzipSync(wire('unknown-verb-request'))
    await toOurs.write(request)
    await original.write(request)
    expect(await toOurs.reply(1)).toMatchObject({ code: 400, body: { message: 'Unknown verb' } })
    expect(await original.reply(1)).toMatchObject({ code: 404, body: null })
  })

  it('keeps the traceback of a failing handler to itself (the original sends it)', async () => {
    const { toOurs, original } = await both()
    for (const raw of [toOurs, original]) await raw.write(member({ id: 3, verb: 'GET', resource: '/boom', body: null }))
    expect((await toOurs.reply(3)).body).toEqual({ message: 'kaboom' })
    expect((await original.reply(3)).body).toMatchObject({ message: 'kaboom', traceback: expect.stringMatching(/^Traceback/) })
  })

  it('answers, then closes only the channel, on a channel EOF (the original drops the whole connection)', async () => {
    const { toOurs, original, ourPort } = await both()
    for (const raw of [toOurs, original]) {
      await raw.write(hello(4))
      raw.end()
    }
    expect(await toOurs.reply(4)).toMatchObject({ code: 200 })
    await toOurs.channelEnded
    const next = await toOurs.another(ourPort)
    await next.write(hello(5))
    expect(await next.reply(5)).toMatchObject({ code: 200 })
    expect(await original.reply(4)).toMatchObject({ code: 200 })
    await original.connectionClosed
  })

  it('refuses a host key it does not know by default (the original client checks nothing)', async () => {
    const server = ours.ecdsa
    // Trusting nothing is our client's default when no known host matches.
    expect(await korvConnectError({ port: server.port, privateKey: clients.ed25519.private, knownHosts: '' })).toBe('ERR_KORV_HOST_KEY')
    expect(await originalClient(server.port, clients.ed25519, 'none')).toHaveProperty('client')
  })
})
