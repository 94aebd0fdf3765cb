// SSH keys made at test time for korv: one pair per type, written where asyncssh can read them.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import ssh2 from 'ssh2'

export type KeyType = 'ed25519' | 'ecdsa' | 'rsa'

export interface SshKeyPair {
  readonly type: KeyType
  /** OpenSSH private key text. */
  readonly private: string
  /** `<type> <base64>` as in authorized_keys and known_hosts. */
  readonly public: string
  /** The private key's file, mode 0600. */
  readonly path: string
}

function generate(type: KeyType): { private: string; public: string } {
  for (;;) {
    const pair =
      type === 'rsa'
        ? ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 })
        : type === 'ecdsa'
          ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 })
          : ssh2.utils.generateKeyPairSync('ed25519')
    // ssh2's generator drops a leading zero byte of about one Ed25519 key in 256: such a key
    // does not parse back, so draw another.
    if (!(ssh2.utils.parseKey(pair.public) instanceof Error) && !(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair
  }
}

/** A new key pair of `type`, its private key written to `dir/name`. */
export async function keyPair(dir: string, name: string, type: KeyType): Promise<SshKeyPair> {
  const pair = generate(type)
  const path = join(dir, name)
  await writeFile(path, pair.private, { mode: 0o600 })
  return { type, private: pair.private, public: pair.public.trim(), path }
}

/** A known_hosts line that trusts `key` for 127.0.0.1 at `port`. */
export function knownHostsLine(port: number, key: SshKeyPair): string {
  return `[127.0.0.1]:${port} ${key.public}\n`
}

/** The wire form of a public key, as ssh2 hands it to a host verifier. */
export function publicBlob(key: SshKeyPair): Buffer {
  const parsed = ssh2.utils.parseKey(key.public)
  if (parsed instanceof Error) throw parsed
  return parsed.getPublicSSH()
}
