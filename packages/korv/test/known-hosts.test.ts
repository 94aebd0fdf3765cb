import { Buffer } from 'node:buffer'
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ErrorCode } from '../src/errors.ts'
import { checkKnownHost, knownHostName, parseKnownHosts } from '../src/known-hosts.ts'
import { blobOf, keyPair } from './helpers.ts'

const host = keyPair('ed25519', 0).public
const other = keyPair('ecdsa', 0).public
const keyField = (line: string): string => line.split(' ').slice(0, 2).join(' ')

const check = (text: string, name: string, key = host): string => checkKnownHost(parseKnownHosts(text).hosts, name, blobOf(key))

function hashed(name: string): string {
  const salt = Buffer.from('0123456789abcdefghij')
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`
}

describe('known_hosts', () => {
  it('names a host as OpenSSH does', () => {
    expect(knownHostName('Example.COM', 22)).toBe('example.com')
    expect(knownHostName('127.0.0.1', 8022)).toBe('[127.0.0.1]:8022')
  })

  it('trusts a line for the host with the same key, and nothing else', () => {
    const text = `[127.0.0.1]:8022 ${keyField(host)} comment\n`
    expect(check(text, '[127.0.0.1]:8022')).toBe('trusted')
    expect(check(text, '[127.0.0.1]:8023')).toBe('unknown')
    expect(check(text, '[127.0.0.1]:8022', other)).toBe('unknown')
    expect(check(`[127.0.0.1]:8022 ${keyField(other)}\r\n`, '[127.0.0.1]:8022')).toBe('unknown')
  })

  it('matches comma lists, wildcards and negations', () => {
    const text = `a.example,*.test,!bad.test,[10.0.0.?]:2222 ${keyField(host)}`
    expect(check(text, 'a.example')).toBe('trusted')
    expect(check(text, 'x.TEST'.toLowerCase())).toBe('trusted')
    expect(check(text, 'bad.test')).toBe('unknown')
    expect(check(text, '[10.0.0.7]:2222')).toBe('trusted')
    expect(check(text, '[10.0.0.17]:2222')).toBe('unknown')
  })

  it('matches hashed host names', () => {
    const text = `${hashed('[127.0.0.1]:8022')} ${keyField(host)}`
    expect(check(text, '[127.0.0.1]:8022')).toBe('trusted')
    expect(check(text, '[127.0.0.1]:8023')).toBe('unknown')
  })

  it('@revoked wins over a trusting line; @cert-authority lines are skipped', () => {
    const text = `* ${keyField(host)}\n@revoked * ${keyField(host)}\n@cert-authority * ${keyField(other)}\n`
    expect(check(text, 'anything')).toBe('revoked')
    expect(check(text, 'anything', other)).toBe('unknown')
    expect(parseKnownHosts(text).hosts).toHaveLength(2)
  })

  it('reports bad lines and keeps the rest', () => {
    const { hosts, errors } = parseKnownHosts(`# comment\n\n@bogus * ${keyField(host)}\nhost ssh-dss AAAA\nx ${keyField(host)}\n`)
    expect(hosts.map((h) => h.line)).toEqual([5])
    expect(errors.map((e) => [e.code, e.line])).toEqual([
      [ErrorCode.BAD_KEY_LINE, 3],
      [ErrorCode.BAD_KEY_LINE, 4],
    ])
  })
})
