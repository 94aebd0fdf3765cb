import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { LineDecoder } from '@proto/framing'
import { loadVectors } from '@proto/framing/testing'
import { expect } from 'vitest'
import { Connection } from '../src/connection.ts'
import { handlerTable } from '../src/handlers.ts'
import { resolveLimits } from '../src/limits.ts'
import { resolveConfig } from '../src/options.ts'
import type { KarpConnectOptions, KarpHandler } from '../src/types.ts'

export const vectors = loadVectors('karp')

/** The wire bytes of a vector; a missing name fails the test. */
export function wire(name: string): Buffer {
  return vectors.find((v) => v.name === name)?.bytes ?? expect.unreachable(`no vector ${name}`)
}

export interface Meaning {
  kind: string
  route?: string
  type?: number
  response_wanted?: boolean
  successful?: boolean
  request_id?: string
  c_len_field?: number
  base64_length?: number
  data_text?: string
}

export function meaning(name: string): Meaning {
  return (vectors.find((v) => v.name === name)?.meaning ?? expect.unreachable(`no vector ${name}`)) as Meaning
}

/** The payload a vector describes; long ones are written as `<N bytes: ccc...>`. */
export function payloadOf(m: Meaning): string {
  const text = m.data_text ?? expect.unreachable('vector without data_text')
  const long = /^<(\d+) bytes: (.)/u.exec(text)
  return long === null ? text : (long[2] ?? '').repeat(Number(long[1]))
}

export const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)

/** A raw TCP client that reads whole lines, LF kept, to compare with vector bytes. */
export class RawClient {
  readonly socket: net.Socket
  readonly #decoder = new LineDecoder({ maxLineBytes: 64 * 1024 * 1024, trailing: 'emit' })
  readonly #lines: Buffer[] = []
  #waiting: (() => void) | undefined
  #ended = false
  readonly ended: Promise<void>

  constructor(socket: net.Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      for (const line of this.#decoder.push(chunk)) this.#lines.push(Buffer.concat([line, Buffer.from('\n')]))
      this.#waiting?.()
    })
    socket.on('error', () => {})
    this.ended = new Promise((resolve) => {
      const ended = (): void => {
        this.#ended = true
        this.#waiting?.()
        resolve()
      }
      // The socket is half-open: the server's FIN shows as 'end', a reset as 'close'.
      socket.on('end', ended)
      socket.on('close', ended)
    })
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true })
    await once(socket, 'connect')
    socket.setNoDelay(true)
    return new RawClient(socket)
  }

  write(bytes: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())))
  }

  /** The next line, LF included; rejects if the connection closes first. */
  async line(): Promise<Buffer> {
    for (;;) {
      const next = this.#lines.shift()
      if (next !== undefined) return next
      if (this.#ended) throw new Error('connection closed before a line arrived')
      await new Promise<void>((resolve) => (this.#waiting = resolve))
    }
  }

  /** Lines received before the server ended the connection. */
  async rest(): Promise<Buffer[]> {
    await this.ended
    return this.#lines.splice(0)
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** Options of a connection made by `connectionOn`. */
export type ConnectionOptions = Pick<KarpConnectOptions, 'handlers' | 'limits' | 'timeout' | 'keepAlive' | 'exposeErrors'>

/** A connection over one end of an in-memory pair, as servers and `connect()` build them over sockets. */
export function connectionOn(
  stream: Duplex,
  options: ConnectionOptions = {},
  fallback?: Map<string, KarpHandler>,
  side: 'client' | 'server' = 'client',
): Connection {
  const config = resolveConfig(options, resolveLimits(options.limits))
  return new Connection(stream, { side, remote: { address: '', port: 0 }, config, handlers: handlerTable(options.handlers), fallback })
}

/** An error whose message a failure reply carries (`expose: true`). */
export function publicError(message: string): Error {
  return Object.assign(new Error(message), { expose: true })
}

/** A promise and the functions that settle it. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: unknown) => void } {
  let resolve: (value: T) => void = () => {}
  let reject: (err: unknown) => void = () => {}
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
