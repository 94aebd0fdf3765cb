// known_hosts files: parsing, host names as OpenSSH writes them, and the host key check.
import type { Buffer } from 'node:buffer'
import { KorvBadKeyLineError } from './errors.ts'
import { parsePublicKey } from './keys.ts'
import { matchHostField } from './patterns.ts'

export interface KnownHost {
  readonly line: number
  readonly revoked: boolean
  readonly hosts: string
  readonly blob: Buffer
}

/**
 * The usable lines of an OpenSSH known_hosts file. `@cert-authority` lines are skipped (korv
 * has no certificates); lines that do not parse are returned as errors and skipped.
 */
export function parseKnownHosts(text: string): { hosts: KnownHost[]; errors: KorvBadKeyLineError[] } {
  const hosts: KnownHost[] = []
  const errors: KorvBadKeyLineError[] = []
  text.split('\n').forEach((raw, index) => {
    const fields = raw.replace(/\r$/, '').trim().split(/\s+/)
    if (fields[0] === '' || fields[0]?.startsWith('#')) return
    let revoked = false
    if (fields[0]?.startsWith('@')) {
      const marker = fields.shift()
      if (marker === '@cert-authority') return
      if (marker !== '@revoked') {
        errors.push(new KorvBadKeyLineError(index + 1, `unknown marker ${marker}`))
        return
      }
      revoked = true
    }
    const [hostField = '', type = '', base64 = ''] = fields
    const parsed = parsePublicKey(type, base64)
    if (typeof parsed === 'string') {
      errors.push(new KorvBadKeyLineError(index + 1, parsed))
      return
    }
    hosts.push({ line: index + 1, revoked, hosts: hostField, blob: parsed.blob })
  })
  return { hosts, errors }
}

/** The name known_hosts uses for a host: lowercased, `[host]:port` unless the port is 22. */
export function knownHostName(host: string, port: number): string {
  const name = host.toLowerCase()
  return port === 22 ? name : `[${name}]:${port}`
}

/** `revoked` wins over any other line; `trusted` needs a line for this host with the same key. */
export function checkKnownHost(hosts: readonly KnownHost[], name: string, blob: Buffer): 'trusted' | 'revoked' | 'unknown' {
  let trusted = false
  for (const entry of hosts) {
    if (!entry.blob.equals(blob) || !matchHostField(entry.hosts, name)) continue
    if (entry.revoked) return 'revoked'
    trusted = true
  }
  return trusted ? 'trusted' : 'unknown'
}
