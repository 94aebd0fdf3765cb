import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { KrpcFile, KrpcMethods } from './types.ts'

function isFile(value: unknown): value is KrpcFile {
  return value instanceof Readable && typeof (value as Partial<KrpcFile>).field === 'string'
}

/** The methods `krpc serve` offers. */
export const demoMethods: KrpcMethods = {
  /** Returns its argument; a file comes back as a binary reply. */
  echo(x: unknown): unknown {
    return x
  },
  add(a: unknown, b: unknown): number | string {
    if (typeof a === 'number' && typeof b === 'number') return a + b
    if (typeof a === 'string' && typeof b === 'string') return a + b
    throw Object.assign(new TypeError('add takes two numbers or two strings'), { expose: true })
  },
  /** Hashes a file while it streams in. */
  async upload(file: unknown): Promise<{ name: string; size: number; sha256: string }> {
    if (!isFile(file)) throw Object.assign(new TypeError('upload takes one file'), { expose: true })
    const hash = createHash('sha256')
    let size = 0
    for await (const chunk of file as AsyncIterable<Buffer>) {
      size += chunk.length
      hash.update(chunk)
    }
    return { name: file.filename, size, sha256: hash.digest('hex') }
  },
  /** Fails with an error marked public, so the peer sees its text. */
  fail(): never {
    throw Object.assign(new Error('fail'), { expose: true })
  },
}
