// OpenSSH's host patterns: `*`/`?` wildcards, negation and hashed names.
import { Buffer } from 'node:buffer'
import { createHmac, timingSafeEqual } from 'node:crypto'

/** OpenSSH's `*` and `?` wildcards, case-insensitive, over the whole string. */
export function globToRegExp(pattern: string): RegExp {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${source}$`, 'is')
}

/**
 * A known_hosts host field: a comma list of wildcard patterns with `!`, or one hashed `|1|salt|hash`
 * name. True when the name matches and no negated pattern does.
 */
export function matchHostField(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|')
    if (salt === undefined || hash === undefined) return false
    const expected = Buffer.from(hash, 'base64')
    const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest()
    return expected.length === actual.length && timingSafeEqual(expected, actual)
  }
  let matched = false
  for (const entry of field.split(',')) {
    const negated = entry.startsWith('!')
    const pattern = negated ? entry.slice(1) : entry
    if (pattern.length === 0 || !globToRegExp(pattern).test(name)) continue
    if (negated) return false
    matched = true
  }
  return matched
}
