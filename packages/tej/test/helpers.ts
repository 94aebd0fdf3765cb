import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { ByteReader, peerInfo } from '@proto/framing'
import type { ProtoError } from '@proto/framing'
import { duplexPair, loadVectors, tcpPair } from '@proto/framing/testing'
import { expect } from 'vitest'
import { Connection } from '../src/connection.ts'
import { DEFAULT_PING_INTERVAL, DEFAULT_TIMEOUT } from '../src/constants.ts'
import { resolveLimits } from '../src/limits.ts'
import type { TejConnection, TejHandler, TejLimits } from '../src/types.ts'

const vectors = loadVectors('tej')

/** The wire bytes of a vector, as captured from the original. */
export function wire(name: string): Buffer {
  return vectors.find((v) => v.name === name)?.bytes ?? expect.unreachable(`no vector ${name}`)
}

/** What the original meant by a vector (its `meaning` object). */
export function meaning(name: string): Record<string, unknown> {
  return (vectors.find((v) => v.name === name)?.meaning ?? expect.unreachable(`no vector ${name}`)) as Record<string, unknown>
}

/** What a connection made for a test takes: those of `connect()` that are TEJ's own. */
export interface TestOptions {
  handler?: TejHandler
  limits?: TejLimits
  pingInterval?: number
  timeout?: number
}

/** A connection over `stream`, as `connect()` makes one. */
export function open(stream: Duplex, options: TestOptions = {}): Connection {
  const handler = options.handler
  return new Connection(stream, {
    limits: resolveLimits(options.limits),
    pingInterval: options.pingInterval ?? DEFAULT_PING_INTERVAL,
    timeout: options.timeout ?? DEFAULT_TIMEOUT,
    side: 'client',
    remote: peerInfo(stream),
    handler: () => handler,
  })
}

export interface Pair {
  conn: TejConnection
  /** What the connection closed with, recorded from its creation. */
  ended: Promise<ProtoError | undefined>
  /** The raw other end: write wire bytes into it, read what `conn` sends from `reader`. */
  peer: Duplex
  reader: ByteReader
}

/** A TejConnection over one end of an in-memory pair; the raw other end is the test's. */
export function connectionPair(options: TestOptions = {}, highWaterMark?: number): Pair {
  const [a, b] = duplexPair(highWaterMark === undefined ? undefined : { highWaterMark })
  const conn = open(a, options)
  // The raw end errors with a reset when the connection destroys its end; that is expected.
  b.on('error', () => undefined)
  return { conn, ended: closeError(conn), peer: b, reader: new ByteReader(b) }
}

/** Two TejConnections talking over an in-memory pair, with what each closed with. */
export function tejPair(
  left: TestOptions = {},
  right: TestOptions = {},
): { a: TejConnection; b: TejConnection; aEnded: Promise<ProtoError | undefined>; bEnded: Promise<ProtoError | undefined> } {
  const [x, y] = duplexPair()
  const a = open(x, left)
  const b = open(y, right)
  return { a, b, aEnded: closeError(a), bEnded: closeError(b) }
}

/**
 * Two TejConnections over real sockets on 127.0.0.1: a destroyed socket shows its peer an
 * early FIN, where the in-memory pair shows a reset.
 */
export async function tejTcpPair(
  left: TestOptions = {},
  right: TestOptions = {},
): Promise<{
  a: TejConnection
  b: TejConnection
  aEnded: Promise<ProtoError | undefined>
  bEnded: Promise<ProtoError | undefined>
  /** The socket under `b`. */
  bSocket: Socket
}> {
  const { client, server } = await tcpPair()
  const a = open(client, left)
  const b = open(server, right)
  return { a, b, aEnded: closeError(a), bEnded: closeError(b), bSocket: server }
}

/** The error the connection closed with. */
export async function closeError(conn: TejConnection): Promise<ProtoError | undefined> {
  const [err] = (await once(conn, 'close')) as [ProtoError | undefined]
  return err
}

/**
 * Deterministic pseudo-random bytes: a xorshift block of a prime length (so no power-of-two
 * offset lines up with it) repeated by a native fill, fast enough for large sizes.
 */
export function pseudoRandomBytes(length: number, seed: number): Buffer {
  const block = Buffer.allocUnsafe(Math.min(length, 4099))
  let x = seed | 0 || 1
  for (let i = 0; i < block.length; i += 1) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    block[i] = x & 0xff
  }
  return length === block.length ? block : Buffer.alloc(length, block)
}

/** Hex of some bytes: string comparison is fast and diffs well, where deep equality of large buffers is slow. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Yields `data` in pieces of `size` bytes, one per turn of the event loop. */
export async function* slowly(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) {
    await new Promise((resolve) => setImmediate(resolve))
    yield data.subarray(offset, offset + size)
  }
}

/** Every byte the stream gives until it ends. */
export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const pieces: Buffer[] = []
  for await (const piece of stream) pieces.push(Buffer.from(piece))
  return Buffer.concat(pieces)
}

/** A promise and the function that resolves it, to hold a source or a handler at a known point. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

/** A stream source that yields `data` once `held` resolves. */
export async function* heldSource(held: Promise<void>, data: Uint8Array): AsyncGenerator<Uint8Array> {
  await held
  yield data
}

/** A hand-made frame head (status 0, version 1) declaring `count` files. */
export function frameHead(count: bigint): Buffer {
  const bytes = Buffer.alloc(10)
  bytes[0] = 0x80
  bytes[1] = 1
  bytes.writeBigUInt64BE(count, 2)
  return bytes
}

export function u64(value: bigint): Buffer {
  const bytes = Buffer.alloc(8)
  bytes.writeBigUInt64BE(value)
  return bytes
}

export function u16(value: number): Buffer {
  const bytes = Buffer.alloc(2)
  bytes.writeUInt16BE(value)
  return bytes
}
