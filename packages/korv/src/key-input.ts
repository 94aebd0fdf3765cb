// Key material as callers give it (text, bytes or a path) and how it is read.
import { Buffer } from 'node:buffer'
import { readFile } from 'node:fs/promises'
import { KorvBadKeyError } from './errors.ts'

/** Key material: a string is the text itself, bytes are the file's bytes, `{ path }` is read. */
export type KeyInput = string | Uint8Array | { path: string }

/** The text or bytes behind a `KeyInput`; an unreadable file is `ERR_KORV_BAD_KEY`. */
export async function readKeyInput(input: KeyInput, what: string): Promise<Buffer | string> {
  if (typeof input === 'string') return input
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  try {
    return await readFile(input.path)
  } catch (err) {
    throw new KorvBadKeyError(`cannot read ${what} ${input.path}: ${(err as Error).message}`, { cause: err })
  }
}
