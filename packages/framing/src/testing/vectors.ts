// loadVectors: the captured wire bytes of the shared vectors, read at test time.
import { Buffer } from 'node:buffer'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import { UsageError } from '../errors.ts'

/** A wire capture from an original implementation. */
export interface Vector {
  name: string
  direction: 'client->server' | 'server->client'
  hex?: string
  text?: string
  meaning: unknown
  /** The bytes on the wire: from `hex` when present (`""` is empty), else UTF-8 of `text`. */
  bytes: Buffer
}

/** The protocols with vectors. */
export type VectorProtocol = 'karp' | 'tej' | 'oneline' | 'krpc' | 'korv'

/** Options of `loadVectors`. */
export interface LoadVectorsOptions {
  /** Directory of `<protocol>.json`. @default $PROTO_VECTORS_DIR, else ../shared/vectors from the repository root */
  dir?: string | undefined
}

/**
 * The vectors of `protocol`, synchronously (for `it.each`). Throws on a missing file or a bad
 * entry, so a test fails rather than skips.
 */
export function loadVectors(protocol: VectorProtocol, opts?: LoadVectorsOptions): Vector[] {
  const dir = opts?.dir ?? process.env['PROTO_VECTORS_DIR'] ?? join(repositoryRoot(), '..', 'shared', 'vectors')
  const file = join(dir, `${protocol}.json`)
  if (!existsSync(file)) throw new UsageError(`no vectors for ${protocol}: ${file} does not exist`)
  const entries: unknown = JSON.parse(readFileSync(file, 'utf8'))
  if (!Array.isArray(entries)) throw new UsageError(`${file} does not hold an array`)
  return entries.map((entry, i) => toVector(entry, `${file}[${i}]`))
}

function toVector(entry: unknown, where: string): Vector {
  if (typeof entry !== 'object' || entry === null) throw new UsageError(`${where} is not an object`)
  const { name, direction, hex, text, meaning } = entry as Record<string, unknown>
  if (typeof name !== 'string') throw new UsageError(`${where} has no name`)
  if (direction !== 'client->server' && direction !== 'server->client') {
    throw new UsageError(`${where} (${name}) has no valid direction`)
  }
  const vector: Vector = { name, direction, meaning, bytes: Buffer.alloc(0) }
  if (typeof hex === 'string') {
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new UsageError(`${where} (${name}) has bad hex`)
    vector.hex = hex
    vector.bytes = Buffer.from(hex, 'hex')
  } else if (typeof text === 'string') {
    vector.bytes = Buffer.from(text, 'utf8')
  } else {
    throw new UsageError(`${where} (${name}) has neither hex nor text`)
  }
  if (typeof text === 'string') vector.text = text
  return vector
}

/** The directory holding pnpm-workspace.yaml, above this module or else above the working directory. */
function repositoryRoot(): string {
  for (const start of [dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    let dir = resolve(start)
    for (;;) {
      if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir
      const parent = dirname(dir)
      if (parent === dir) break
      dir = parent
    }
  }
  throw new UsageError('no pnpm-workspace.yaml above this package or the working directory; set PROTO_VECTORS_DIR')
}
