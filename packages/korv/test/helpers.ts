import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import { crc32, deflateRawSync } from 'node:zlib'
import ssh2 from 'ssh2'
import type { ClientChannel } from 'ssh2'
import { GzipMemberDecoder } from '@proto/framing'
import type { TcpAddress } from '@proto/framing'
import { loadVectors } from '@proto/framing/testing'
import { expect } from 'vitest'
import { encodeMessage } from '../src/codec.ts'
import { createDemoHandlers } from '../src/demo.ts'
import { fingerprint } from '../src/keys.ts'
import { createServer } from '../src/server.ts'
import type { KorvServer, KorvServerOptions } from '../src/server.ts'
import type { KorvError } from '../src/errors.ts'
import type { PeerInfo, ProtoError } from '@proto/framing'

export type KeyKind = 'ed25519' | 'rsa' | 'ecdsa'
export interface KeyPair {
  private: string
  public: string
}

/**
 * ssh2 1.17's generateKeyPairSync drops a leading zero byte of an Ed25519 public key (about one
 * key in 256), which yields a key nothing can read; such a pair is made again.
 */
export function generateKeyPair(kind: KeyKind): KeyPair {
  for (;;) {
    const pair =
      kind === 'rsa'
        ? ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 })
        : kind === 'ecdsa'
          ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 })
          : ssh2.utils.generateKeyPairSync('ed25519')
    if (!(ssh2.utils.parseKey(pair.public) instanceof Error) && !(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair
  }
}

const keys = new Map<string, KeyPair>()
/** A throwaway key pair, made once per kind and slot for the test file. */
export function keyPair(kind: KeyKind, slot = 0): KeyPair {
  const id = `${kind}/${slot}`
  let pair = keys.get(id)
  if (pair === undefined) {
    pair = generateKeyPair(kind)
    keys.set(id, pair)
  }
  return pair
}

export const blobOf = (publicLine: string): Buffer => Buffer.from(publicLine.split(' ')[1] ?? '', 'base64')
export const fingerprintOf = (publicLine: string): string => fingerprint(blobOf(publicLine))

const vectors = loadVectors('korv')
export function vector(name: string): Buffer {
  return vectors.find((v) => v.name === name)?.bytes ?? expect.unreachable(name)
}
export const vectorText = (name: string): string => vector(name).toString('utf8')
export const vectorJson = (name: string): Record<string, unknown> => JSON.parse(vectorText(name)) as Record<string, unknown>
export const textVectors = vectors.filter((v) => v.text !== undefined)

/** A member as Python's gzip.compress writes it: mtime set, XFL 2, OS 255. */
export function pythonGzip(data: string | Uint8Array): Buffer {
  const raw = Buffer.from(data)
  const header = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xb2, 0xeb, 0x02, 0x6b, 0x02, 0xff])
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(crc32(raw), 0)
  trailer.writeUInt32LE(raw.length, 4)
  return Buffer.concat([header, deflateRawSync(raw, { level: 9 }), trailer])
}

export const withoutId = (message: Record<string, unknown>): Record<string, unknown> => {
  const { id: _id, ...rest } = message
  return rest
}

export interface TestServer {
  server: KorvServer
  port: number
  hostKey: KeyPair
  clientKey: KeyPair
  clientErrors: { err: KorvError | ProtoError; peer: PeerInfo }[]
  handlerErrors: unknown[]
  nextClientError(): Promise<KorvError>
  close(opts?: { signal?: AbortSignal }): Promise<void>
}

/** The `serve` handlers plus GET /boom, on 127.0.0.1:0, with one authorized ed25519 client key. */
export async function startServer(opts: Partial<KorvServerOptions> & { hostKey?: KeyPair; clientKey?: KeyPair } = {}): Promise<TestServer> {
  const { hostKey = keyPair('ed25519', 0), clientKey = keyPair('ed25519', 1), ...options } = opts
  const handlers = createDemoHandlers()
  handlers.GET['/boom'] = () => {
    throw Object.assign(new Error('kaboom'), { expose: true })
  }
  const server = createServer({
    hostKeys: [hostKey.private],
    authorizedKeys: `${clientKey.public}\n`,
    handlers,
    ...options,
  })
  const clientErrors: TestServer['clientErrors'] = []
  const handlerErrors: unknown[] = []
  server.on('clientError', (err, peer) => clientErrors.push({ err, peer }))
  server.on('handlerError', (err) => handlerErrors.push(err))
  const { port } = (await server.listen({ host: '127.0.0.1', port: 0 })) as TcpAddress
  return {
    server, port, hostKey, clientKey, clientErrors, handlerErrors,
    nextClientError: async () => ((await once(server, 'clientError')) as [KorvError])[0],
    close: (opts) => server.close(opts ?? { signal: AbortSignal.timeout(5_000) }),
  }
}

/** A bare ssh2 client on one direct-tcpip channel: raw bytes out, decoded replies in. */
export interface RawChannel {
  ssh: ssh2.Client
  channel: ClientChannel
  send(bytes: Uint8Array): void
  request(message: object): void
  next(): Promise<Record<string, unknown>>
  /** Resolves once the server has sent EOF (after every reply before it was read). */
  ended: Promise<void>
  closed: Promise<void>
  close(): Promise<void>
}

export async function openRaw(port: number, privateKey: string, opts: { destination?: [string, number] } = {}): Promise<RawChannel> {
  const ssh = new ssh2.Client()
  ssh.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    ssh.once('ready', resolve)
    ssh.once('error', reject)
    ssh.connect({ host: '127.0.0.1', port, username: 'korv', privateKey, algorithms: { compress: ['none'] } })
  })
  const [host, destPort] = opts.destination ?? ['127.0.0.1', port]
  const channel = await new Promise<ClientChannel>((resolve, reject) => {
    ssh.forwardOut('', 0, host, destPort, (err, ch) => (err === undefined ? resolve(ch) : reject(err)))
  })
  const decoder = new GzipMemberDecoder({ maxFrameBytes: 16_000_000, maxCompressedBytes: 16_000_000 })
  const ready: Record<string, unknown>[] = []
  const waiting: ((m: Record<string, unknown>) => void)[] = []
  let chain = Promise.resolve()
  channel.on('data', (chunk: Buffer) => {
    chain = chain.then(async () => {
      for (const frame of await decoder.push(chunk)) {
        const message = JSON.parse(frame.toString('utf8')) as Record<string, unknown>
        const waiter = waiting.shift()
        if (waiter !== undefined) waiter(message)
        else ready.push(message)
      }
    })
  })
  const ended = new Promise<void>((resolve) => channel.once('end', () => void chain.then(resolve)))
  const closed = new Promise<void>((resolve) => ssh.once('close', resolve))
  return {
    ssh, channel, ended, closed,
    send: (bytes) => channel.write(bytes),
    request: (message) => channel.write(encodeMessage(message)),
    next: () => {
      const message = ready.shift()
      return message !== undefined ? Promise.resolve(message) : new Promise((resolve) => waiting.push(resolve))
    },
    close: async () => {
      ssh.end()
      await closed
    },
  }
}

/** Bytes that do not compress, the same every run. */
export function noise(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length)
  let x = seed
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/**
 * A bare ssh2 server that accepts any client key and answers each decoded request with what
 * `answer` returns: whole packets to write, in order. `received`, if given, collects the packets
 * that came in.
 */
export async function startStub(
  answer: (request: Record<string, unknown>) => Uint8Array[],
  received?: Buffer[],
): Promise<{ port: number; hostKey: KeyPair; close(): Promise<void> }> {
  const hostKey = keyPair('ed25519', 0)
  const conns = new Set<ssh2.Connection>()
  const server = new ssh2.Server({ hostKeys: [hostKey.private], algorithms: { compress: ['none'] } }, (conn) => {
    conns.add(conn)
    conn.on('error', () => {})
    conn.on('close', () => conns.delete(conn))
    conn.on('authentication', (ctx) => ctx.accept())
    conn.on('tcpip', (accept) => {
      const channel = accept()
      const decoder = new GzipMemberDecoder()
      let chain = Promise.resolve()
      channel.on('data', (chunk: Buffer) => {
        received?.push(chunk)
        chain = chain.then(async () => {
          for (const frame of await decoder.push(chunk)) {
            for (const packet of answer(JSON.parse(frame.toString('utf8')) as Record<string, unknown>)) channel.write(packet)
          }
        })
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    hostKey,
    close: async () => {
      for (const conn of conns) conn.end()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A vector reply with its non-zero request_id replaced by `id`, as one Python-style member. */
export function replyAs(name: string, id: unknown): Buffer {
  const message = vectorJson(name)
  if (message.request_id !== 0) message.request_id = id
  return pythonGzip(JSON.stringify(message))
}
