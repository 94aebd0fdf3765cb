// How decoded frames print their bytes: payloads as text or base64, files as a streamed summary.
import { Buffer, isUtf8 } from 'node:buffer'
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'

/** Payload bytes in a decoded frame: `{ text }` when they are valid UTF-8, else `{ data, encoding: 'base64' }`. */
export type PayloadJson = { text: string } | { data: string; encoding: 'base64' }

/** `bytes` as every bin prints a payload: see `PayloadJson`. */
export function payloadJson(bytes: Uint8Array): PayloadJson {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return isUtf8(buf) ? { text: buf.toString('utf8') } : { data: buf.toString('base64'), encoding: 'base64' }
}

/** A file carried in a frame, as decode prints it: never its contents. */
export interface FileSummary {
  /** The file's name as the frame gives it: data, never a path to open. */
  name: string
  /** Bytes. */
  size: number
  /** SHA-256 of the contents, lower-case hex. */
  sha256: string
}

/** Counts and hashes a file's contents as they stream past, so only the summary is ever kept. */
export class FileDigest {
  readonly #name: string
  readonly #hash: Hash = createHash('sha256')
  #size = 0

  constructor(name: string) {
    this.#name = name
  }

  /** Bytes so far. */
  get size(): number {
    return this.#size
  }

  /** Adds the next piece of the contents. */
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk)
    this.#size += chunk.byteLength
  }

  /** The summary of everything added; call it once, at the end of the file. */
  summary(): FileSummary {
    return { name: this.#name, size: this.#size, sha256: this.#hash.digest('hex') }
  }
}
