// SSH keys: fingerprints, private key parsing, and the key types korv accepts.
import { Buffer } from 'node:buffer'
import { createHash } from 'node:crypto'
import ssh2 from 'ssh2'
import type { ParsedKey } from 'ssh2'
import { KorvBadKeyError } from './errors.ts'

/** `ssh-keygen -lf` form: `SHA256:` and unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/** A private key, checked now so a bad one fails with `ERR_KORV_BAD_KEY`, not inside ssh2. */
export function parsePrivateKey(data: Buffer | string, passphrase: string | undefined, what: string): ParsedKey {
  let parsed: unknown
  try {
    parsed = ssh2.utils.parseKey(data, passphrase)
  } catch (err) {
    throw new KorvBadKeyError(`${what} is not a readable key`, { cause: err })
  }
  if (parsed instanceof Error) throw new KorvBadKeyError(`${what}: ${parsed.message}`, { cause: parsed })
  // The OpenSSH format can hold several keys; ssh2 uses the first.
  const key = (Array.isArray(parsed) ? parsed[0] : parsed) as ParsedKey | undefined
  if (key === undefined || !key.isPrivateKey()) throw new KorvBadKeyError(`${what} is not a private key`)
  return key
}

/** The key types korv accepts, as in authorized_keys and known_hosts lines. */
export const KEY_TYPES: ReadonlySet<string> = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
])

/** The type name at the head of an SSH public key blob, or undefined if it has none. */
export function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined
  const length = blob.readUInt32BE(0)
  if (length > blob.length - 4) return undefined
  return blob.toString('latin1', 4, 4 + length)
}

/**
 * A public key from a line's `type base64` fields. Returns a reason string when the key cannot be
 * used: an unsupported type, base64 that is not a key of the named type.
 */
export function parsePublicKey(type: string, base64: string): { blob: Buffer; key: ParsedKey } | string {
  if (!KEY_TYPES.has(type)) return `unsupported key type ${type}`
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return 'key is not base64'
  const blob = Buffer.from(base64, 'base64')
  if (blobType(blob) !== type) return `key blob is not ${type}`
  const parsed = ssh2.utils.parseKey(`${type} ${base64}`) as ParsedKey | ParsedKey[] | Error
  if (parsed instanceof Error || Array.isArray(parsed)) return `bad ${type} key`
  return { blob, key: parsed }
}
