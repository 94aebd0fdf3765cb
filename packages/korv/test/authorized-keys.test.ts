import { describe, expect, it } from 'vitest'
import { admits, parseAuthorizedKeys, permitsOpen } from '../src/authorized-keys.ts'
import type { AuthorizedKey } from '../src/authorized-keys.ts'
import { ErrorCode } from '../src/errors.ts'
import type { KorvBadKeyLineError } from '../src/errors.ts'
import { blobOf, fingerprintOf, keyPair } from './helpers.ts'

const ed = keyPair('ed25519', 1).public
const ec = keyPair('ecdsa', 0).public

function parse(text: string): { keys: AuthorizedKey[]; errors: KorvBadKeyLineError[] } {
  const errors: KorvBadKeyLineError[] = []
  return { keys: parseAuthorizedKeys(text, (err) => errors.push(err)), errors }
}

function one(line: string): AuthorizedKey {
  const { keys, errors } = parse(line)
  expect(errors).toEqual([])
  return keys[0] ?? expect.unreachable(line)
}

function skipped(line: string): KorvBadKeyLineError {
  const { keys, errors } = parse(`\n${line}\n`)
  expect(keys).toEqual([])
  expect(errors).toHaveLength(1)
  expect(errors[0]).toMatchObject({ code: ErrorCode.BAD_KEY_LINE, line: 2 })
  return errors[0] ?? expect.unreachable(line)
}

describe('authorized_keys lines', () => {
  it('reads every key line, skipping blanks and comments, CRLF or not', () => {
    const { keys, errors } = parse(`# keys\r\n\r\n${ed} me@host\r\n   \n${ec}`)
    expect(errors).toEqual([])
    expect(keys.map((k) => [k.line, k.type, k.fingerprint])).toEqual([
      [3, 'ssh-ed25519', fingerprintOf(ed)],
      [5, 'ecdsa-sha2-nistp256', fingerprintOf(ec)],
    ])
    expect(keys[0]?.blob.equals(blobOf(ed))).toBe(true)
    expect(keys[0]?.portForwarding).toBe(true)
  })

  it('reads options case-insensitively, quoted values with commas and escaped quotes', () => {
    const key = one(`FROM="10.0.0.0/8,127.0.0.1",Command="echo \\"a, b\\"",no-pty ${ed}`)
    expect(admits(key, '127.0.0.1', Date.now())).toBe(true)
    expect(admits(key, '10.1.2.3', Date.now())).toBe(true)
    expect(admits(key, '192.168.0.1', Date.now())).toBe(false)
  })

  it('applies from= patterns: wildcards, CIDR, negation, IPv4-mapped addresses', () => {
    const key = one(`from="192.168.*,!192.168.1.?,2001:db8::/32" ${ed}`)
    expect(admits(key, '192.168.7.7', 0)).toBe(true)
    expect(admits(key, '::ffff:192.168.7.7', 0)).toBe(true)
    expect(admits(key, '192.168.1.5', 0)).toBe(false)
    expect(admits(key, '2001:db8::1', 0)).toBe(true)
    expect(admits(key, '2001:db9::1', 0)).toBe(false)
    expect(admits(key, '10.0.0.1', 0)).toBe(false)
  })

  it('refuses a key once its expiry-time has passed', () => {
    const key = one(`expiry-time="20300101" ${ed}`)
    expect(admits(key, '127.0.0.1', new Date(2029, 11, 31, 23, 59).getTime())).toBe(true)
    expect(admits(key, '127.0.0.1', new Date(2030, 0, 1, 0, 0, 1).getTime())).toBe(false)
    const utc = one(`expiry-time="203001011230Z" ${ed}`)
    expect(utc.expiresAt).toBe(Date.UTC(2030, 0, 1, 12, 30))
  })

  it('restrict and no-port-forwarding refuse channels until a later port-forwarding', () => {
    expect(permitsOpen(one(`restrict ${ed}`), '127.0.0.1', 8022)).toBe(false)
    expect(permitsOpen(one(`no-port-forwarding ${ed}`), '127.0.0.1', 8022)).toBe(false)
    expect(permitsOpen(one(`restrict,port-forwarding ${ed}`), '127.0.0.1', 8022)).toBe(true)
    expect(permitsOpen(one(`port-forwarding,restrict ${ed}`), '127.0.0.1', 8022)).toBe(false)
  })

  it('permitopen limits the destination; * matches any host or port', () => {
    const key = one(`permitopen="localhost:8022",permitopen="[::1]:*",permitopen="*:9000" ${ed}`)
    expect(permitsOpen(key, 'LOCALHOST', 8022)).toBe(true)
    expect(permitsOpen(key, 'localhost', 8023)).toBe(false)
    expect(permitsOpen(key, '::1', 1)).toBe(true)
    expect(permitsOpen(key, 'example.com', 9000)).toBe(true)
    expect(permitsOpen(key, '127.0.0.1', 8022)).toBe(false)
  })

  it('ignores options that have no meaning here', () => {
    const key = one(
      `command="x",environment="A=b",permitlisten="1",tunnel="0",pty,no-pty,agent-forwarding,no-agent-forwarding,X11-forwarding,no-x11-forwarding,user-rc,no-user-rc ${ed}`,
    )
    expect(key.portForwarding).toBe(true)
  })

  it.each([
    ['an unknown option', `no-such-option ${ed}`],
    ['cert-authority', `cert-authority ${ed}`],
    ['principals', `principals="a" ${ed}`],
    ['an unquoted value', `from=127.0.0.1 ${ed}`],
    ['a flag with a value', `restrict="yes" ${ed}`],
    ['an unterminated quote', `from="127.0.0.1 ${ed}`],
    ['a bad CIDR', `from="10.0.0.0/33" ${ed}`],
    ['a bad expiry-time', `expiry-time="20301301" ${ed}`],
    ['a bad permitopen', `permitopen="nohost" ${ed}`],
    ['ssh-dss', 'ssh-dss AAAAB3NzaC1kc3MAAACBAP'],
    ['an sk- key', 'sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t'],
    ['a certificate', `ssh-ed25519-cert-v01@openssh.com ${ed.split(' ')[1] ?? ''}`],
    ['a blob of another type', `ssh-rsa ${ed.split(' ')[1] ?? ''}`],
    ['a bad blob', 'ssh-ed25519 AAAA'],
    ['no key at all', 'restrict'],
  ])('skips a line with %s and reports it', (_name, line) => {
    skipped(line)
  })

  it('keeps loading after a bad line', () => {
    const { keys, errors } = parse(`bogus ${ed}\n${ec}\n`)
    expect(keys.map((k) => k.line)).toEqual([2])
    expect(errors.map((e) => e.line)).toEqual([1])
  })
})
