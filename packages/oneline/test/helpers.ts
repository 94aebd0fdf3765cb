import { once } from 'node:events'
import net from 'node:net'
import { ByteReader } from '@proto/framing'
import { loadVectors } from '@proto/framing/testing'
import { expect } from 'vitest'
import { createServer } from '../src/server.ts'
import type { OnelineServer, OnelineServerOptions } from '../src/server.ts'
import type { OnelineHandler } from '../src/types.ts'

export const vectors = loadVectors('oneline')

/** The bytes of the vector `name`. */
export function wire(name: string): Buffer {
  return vectors.find((v) => v.name === name)?.bytes ?? expect.unreachable(`no vector ${name}`)
}

/** fast-check runs per property: FC_NUM_RUNS, else 200. */
export const numRuns = Number(process.env['FC_NUM_RUNS'] ?? 200)

/** Python's json.dumps with its default ensure_ascii: every character outside space..~ is escaped. */
export function pythonJson(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** The callback of the server the vectors were captured from. */
export const vectorHandler: OnelineHandler = (command, ctx) => {
  if (command === 'cmd01') return 'ack'
  if (command === 'multi') return ['r1', 'r2', 'r3']
  if (command === 'silent') return
  return `cb:${pythonJson(command)}:${ctx.invalid ? 'True' : 'False'}`
}

/** Servers and sockets opened by a test, closed after it. */
export class Resources {
  readonly #servers: OnelineServer[] = []
  readonly #sockets: net.Socket[] = []

  async server(options: OnelineServerOptions = { handler: vectorHandler }): Promise<{ server: OnelineServer; port: number }> {
    const server = createServer(options)
    this.#servers.push(server)
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    return { server, port }
  }

  /** A raw connected socket, half-open like the original client's. */
  async socket(port: number): Promise<RawClient> {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true })
    this.#sockets.push(socket)
    await once(socket, 'connect')
    // A reset the test expects must not surface as an uncaught error; reads still reject.
    socket.on('error', () => {})
    return new RawClient(socket)
  }

  track(socket: net.Socket): void {
    this.#sockets.push(socket)
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets.splice(0)) socket.destroy()
    await Promise.all(this.#servers.splice(0).map((server) => server.close({ signal: AbortSignal.abort() })))
  }
}

/** A socket with a pull reader over what it receives. */
export class RawClient {
  readonly socket: net.Socket
  readonly reader: ByteReader

  constructor(socket: net.Socket) {
    this.socket = socket
    this.reader = new ByteReader(socket)
  }

  write(bytes: Uint8Array | string): void {
    this.socket.write(bytes)
  }

  /** The next `n` bytes. */
  bytes(n: number): Promise<Buffer> {
    return this.reader.bytes(n)
  }

  /** Everything until the server's EOF. */
  async rest(): Promise<Buffer> {
    const parts: Buffer[] = []
    while (!(await this.reader.atEnd())) parts.push(await this.reader.bytes(1))
    return Buffer.concat(parts)
  }

  /** The next line, LF included. */
  async line(): Promise<string> {
    const parts: Buffer[] = []
    for (;;) {
      const byte = await this.reader.bytes(1)
      parts.push(byte)
      if (byte[0] === 0x0a) return Buffer.concat(parts).toString('utf8')
    }
  }
}

/** Resolves when `socket` has closed, whatever closed it. */
export function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve()
    else socket.once('close', () => resolve())
  })
}

/** Lets pending I/O callbacks run: a turn of the event loop, not a timed wait. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Waits, one turn of the event loop at a time (each polls every socket), until `condition()`
 * holds: for server state that no event announces. Fails after `maxTurns`.
 */
export async function until(condition: () => boolean, what: string, maxTurns = 100_000): Promise<void> {
  for (let turns = 0; !condition(); turns++) {
    if (turns >= maxTurns) expect.unreachable(`${what}: still not so after ${maxTurns} turns`)
    await turn()
  }
}

/**
 * Writes `chunk` again and again, each write after the last has drained, until `total` bytes
 * are queued or the socket closes. `flushed` counts the bytes the kernel has taken.
 */
export class Flood {
  #flushed = 0

  constructor(socket: net.Socket, chunk: Uint8Array, total: number) {
    const flushed = (err?: Error | null): void => {
      if (err == null) this.#flushed += chunk.length
    }
    void (async () => {
      for (let queued = 0; queued < total && !socket.destroyed && socket.writable; queued += chunk.length) {
        if (!socket.write(chunk, flushed)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              socket.off('drain', done)
              socket.off('close', done)
              resolve()
            }
            socket.on('drain', done)
            socket.on('close', done)
          })
        }
      }
    })()
  }

  get flushed(): number {
    return this.#flushed
  }

  /** Resolves once no byte has left for `quietTurns` turns in a row: the reader has stopped. */
  async stalled(quietTurns = 50, maxTurns = 200_000): Promise<void> {
    let last = this.#flushed
    let quiet = 0
    for (let turns = 0; quiet < quietTurns; turns++) {
      if (turns >= maxTurns) expect.unreachable(`the flood was still moving after ${maxTurns} turns`)
      await turn()
      quiet = this.#flushed === last ? quiet + 1 : 0
      last = this.#flushed
    }
  }
}
