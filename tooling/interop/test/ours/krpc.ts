// Our side of the KRPC interop tests: the few calls they make on @proto/krpc, in one place, so
// a change of its API touches this file only.
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { asFile, connect, createServer, isBinaryResult } from '@proto/krpc'
import type { KrpcFile } from '@proto/krpc'
import { defer } from '@proto/vitest-config/cleanup'
import { runCli } from '../cli.ts'

/** What a call ended with: a result, binary bytes, a KRPC error, or a local error's code. */
export type KrpcOutcome =
  | { readonly result: unknown }
  | { readonly binary: Buffer }
  | { readonly error: { readonly code: number; readonly message: string; readonly info?: unknown } }
  | { readonly failed: string }

/** How our client makes a call. */
export interface KrpcCallSpec {
  readonly params?: unknown
  readonly files?: readonly Uint8Array[]
  readonly via?: 'get' | 'post'
  readonly pmhparams?: unknown
  readonly signal?: AbortSignal
}

/** Our server, with the pmhparams its hook was given and the codes it reported. */
export interface KrpcServerSide {
  readonly port: number
  readonly hooked: unknown[]
  readonly clientErrors: string[]
  /** Resolves once a `clientError` with `code` has been reported. */
  clientError(code: string): Promise<void>
}

async function digest(file: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of file as AsyncIterable<Buffer>) {
    hash.update(chunk)
    size += chunk.length
  }
  return { size, sha256: hash.digest('hex') }
}

/** `size` bytes counting 0..255 over and over, as the Python drivers make them. */
export function pattern(size: number): Buffer {
  const bytes = Buffer.alloc(size)
  for (let i = 0; i < size; i++) bytes[i] = i & 0xff
  return bytes
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

/** The methods of the original's driver server, written for ours. */
export async function krpcServer(): Promise<KrpcServerSide> {
  const hooked: unknown[] = []
  const server = createServer({
    handlers: {
      echo: (value: unknown) => value,
      concat: (...parts: string[]) => parts.join('|'),
      add: (a: number, b: number) => a + b,
      kw: ({ x, y }: { x: unknown; y: unknown }) => `${String(x)}+${String(y)}`,
      upload_info: async (label: string, ...files: KrpcFile[]) => ({ label, files: await Promise.all(files.map(digest)) }),
      types: (...files: KrpcFile[]) => files.map((file) => file.mimeType),
      fail: () => {
        throw Object.assign(new Error('kaboom'), { expose: true })
      },
      managed: () => {
        throw Object.assign(new Error('Answer'), { managed: true, code: 42, info: 'more' })
      },
      binary: (size: string) => pattern(Number(size)),
      text: () => Buffer.from('plain text, sent as binary'),
      zero: () => 0,
      sub: { hello: (name: string) => `hello ${name}` },
    },
    preMethodHook: (pmhparams) => {
      hooked.push(pmhparams)
    },
  })
  const clientErrors: string[] = []
  const waiters: { code: string; resolve: () => void }[] = []
  server.on('clientError', (err) => {
    clientErrors.push(err.code)
    for (const waiter of waiters.filter((w) => w.code === err.code)) waiter.resolve()
  })
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  defer(() => server.close({ signal: AbortSignal.abort() }))
  return {
    port,
    hooked,
    clientErrors,
    clientError: (code) => (clientErrors.includes(code) ? Promise.resolve() : new Promise((resolve) => waiters.push({ code, resolve }))),
  }
}

/** Our client for `port`: each call's outcome, never a throw. */
export async function krpcClient(port: number): Promise<{ call(method: string, spec?: KrpcCallSpec): Promise<KrpcOutcome>; close(): Promise<void> }> {
  const client = await connect({ host: '127.0.0.1', port })
  defer(() => client.close())
  return {
    async call(method, { params, files = [], via, pmhparams, signal } = {}) {
      const args = [...(Array.isArray(params) ? params : params === undefined ? [] : [params]), ...files.map((data) => asFile(data))]
      try {
        const result = await client.call(method, Array.isArray(params) || files.length > 0 ? args : params, {
          ...(via === undefined ? {} : { via }),
          ...(pmhparams === undefined ? {} : { pmhparams }),
          ...(signal === undefined ? {} : { signal }),
        })
        if (isBinaryResult(result)) return { binary: Buffer.from(await result.bytes()) }
        return { result }
      } catch (err) {
        const { code, rpcCode, message, data } = err as { code?: string; rpcCode?: number; message: string; data?: unknown }
        if (code === 'ERR_KRPC_REMOTE' && rpcCode !== undefined) return { error: { code: rpcCode, message, ...(data === undefined ? {} : { info: data }) } }
        return { failed: String(code ?? message) }
      }
    },
    close: () => client.close(),
  }
}

/** `krpc call 127.0.0.1:PORT METHOD JSON_ARG... --file PATH...`: exit code and output. */
export function krpcCallCli(port: number, method: string, args: readonly unknown[], files: readonly string[] = []) {
  return runCli('krpc', ['call', `127.0.0.1:${port}`, method, ...args.map((arg) => JSON.stringify(arg)), ...files.flatMap((file) => ['--file', file])])
}
