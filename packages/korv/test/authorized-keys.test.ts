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
    expect(permitsOpen(key, 'localhost', 8022)).toBe(true)
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

// Each rule below is sshd's (auth-options.c, addrmatch.c, match.c, misc.c), case by case.
describe('authorized_keys as OpenSSH reads it', () => {
  const at = (iso: string): number => new Date(iso).getTime()

  describe('expiry-time', () => {
    it('takes the earliest of repeated values, in either order', () => {
      for (const options of ['expiry-time="20300101Z",expiry-time="20400101Z"', 'expiry-time="20400101Z",expiry-time="20300101Z"']) {
        const key = one(`${options} ${ed}`)
        expect(admits(key, '127.0.0.1', at('2029-12-31T23:59:59Z'))).toBe(true)
        expect(admits(key, '127.0.0.1', at('2035-01-01T00:00:00Z'))).toBe(false)
      }
    })

    it('compares whole seconds: the key still gets in during its expiry second', () => {
      const key = one(`expiry-time="20300101123000Z" ${ed}`)
      expect(admits(key, '127.0.0.1', at('2030-01-01T12:30:00.999Z'))).toBe(true)
      expect(admits(key, '127.0.0.1', at('2030-01-01T12:30:01.000Z'))).toBe(false)
    })

    it.each([
      ['20300101Z', '2030-01-01T00:00:00Z'],
      ['20300101z', '2030-01-01T00:00:00Z'],
      ['203001011230UTC', '2030-01-01T12:30:00Z'],
      ['20300101123045utc', '2030-01-01T12:30:45Z'],
      // strptime takes days to 31 in any month and seconds to 61; timegm carries them over.
      ['20300231Z', '2030-03-03T00:00:00Z'],
      ['20301231235960Z', '2031-01-01T00:00:00Z'],
      // glibc's strptime skips blanks before a number.
      ['2030 1 1Z', '2030-01-01T00:00:00Z'],
    ])('reads %s as %s', (text, iso) => {
      expect(one(`expiry-time="${text}" ${ed}`).expiresAt).toBe(at(iso))
    })

    it('reads local time as mktime does with tm_isdst 0: standard time, even in summer', () => {
      const saved = process.env.TZ
      process.env.TZ = 'Europe/Berlin'
      try {
        expect(one(`expiry-time="20300701" ${ed}`).expiresAt).toBe(at('2030-06-30T23:00:00Z'))
        expect(one(`expiry-time="20300101" ${ed}`).expiresAt).toBe(at('2029-12-31T23:00:00Z'))
      } finally {
        if (saved === undefined) delete process.env.TZ
        else process.env.TZ = saved
      }
    })

    it.each([
      ['the epoch itself', '19700101Z'],
      ['a time before the epoch', '19691231Z'],
      ['a year below 100', '00300101Z'],
      ['month 13', '20301301Z'],
      ['day 32', '20300132Z'],
      ['hour 24', '203001012400Z'],
      ['a wrong length', '2030010'],
      ['letters', '2030O101'],
      ['a time zone other than UTC', '20300101CET'],
    ])('skips a line with %s', (_name, text) => {
      skipped(`expiry-time="${text}" ${ed}`)
    })
  })

  describe('from=', () => {
    it('refuses a line with two from= options, as sshd refuses the second', () => {
      skipped(`from="127.0.0.1",from="10.0.0.1" ${ed}`)
    })

    it.each([
      ['127.0.0.1/8'],
      ['10.1.0.0/8'],
      ['2001:db8::1/32'],
      ['10.0.0.0/33'],
      ['10/8'],
    ])('refuses a line whose CIDR block %s leaves host bits set or a mask too long', (block) => {
      skipped(`from="${block}" ${ed}`)
    })

    it.each([['127.0.0.1,'], [',127.0.0.1'], ['!'], [''], ['127.0.0.1,,10.0.0.1']])('refuses a line with an empty entry in "%s"', (list) => {
      skipped(`from="${list}" ${ed}`)
    })

    it('takes a mask sshd cannot read as a wildcard entry that matches no address', () => {
      for (const entry of ['10.0.0.0/129', '10.0.0.0/', '10.0.0.0/+8', '10.0.0.0/8/8', '10.0.0.0/0x8']) {
        const key = one(`from="${entry},127.0.0.1" ${ed}`)
        expect(admits(key, '127.0.0.1', 0)).toBe(true)
        expect(admits(key, '10.0.0.1', 0)).toBe(false)
      }
    })

    it('compares an address without a mask by value, not as text', () => {
      expect(admits(one(`from="2001:0DB8:0:0::0001" ${ed}`), '2001:db8::1', 0)).toBe(true)
      expect(admits(one(`from="0:0:0:0:0:0:0:1" ${ed}`), '::1', 0)).toBe(true)
    })

    it('reads IPv4 addresses as inet_aton does: short forms, octal and hex parts', () => {
      for (const entry of ['127.1', '0x7f.0.0.1', '0177.0.0.1', '2130706433', '017700000001', '127.0.1/32', '10.0/8,127.0.0.1']) {
        expect(admits(one(`from="${entry}" ${ed}`), '127.0.0.1', 0)).toBe(true)
      }
      expect(admits(one(`from="10.0/8" ${ed}`), '10.200.3.4', 0)).toBe(true)
      for (const entry of ['08.0.0.1', '0x.0.0.1', '127.0.0.1.', '256.0.0.1', '1.2.3.4.5']) {
        expect(admits(one(`from="${entry}" ${ed}`), '127.0.0.1', 0)).toBe(false)
      }
    })

    it('matches blocks of both families, /0 included, never across families', () => {
      const key = one(`from="192.168.0.0/16,2001:db8::/32" ${ed}`)
      expect(admits(key, '192.168.200.1', 0)).toBe(true)
      expect(admits(key, '192.169.0.1', 0)).toBe(false)
      expect(admits(key, '2001:db8:ffff::1', 0)).toBe(true)
      expect(admits(key, '2001:db9::1', 0)).toBe(false)
      expect(admits(one(`from="0.0.0.0/0" ${ed}`), '203.0.113.9', 0)).toBe(true)
      expect(admits(one(`from="0.0.0.0/0" ${ed}`), '::1', 0)).toBe(false)
      expect(admits(one(`from="::/0" ${ed}`), '::1', 0)).toBe(true)
    })

    it('matches * and ? wildcards over the whole address, ignoring case', () => {
      const key = one(`from="127.0.0.?,2001:DB8::*" ${ed}`)
      expect(admits(key, '127.0.0.1', 0)).toBe(true)
      expect(admits(key, '127.0.0.10', 0)).toBe(false)
      expect(admits(key, '2001:db8::5', 0)).toBe(true)
      expect(admits(key, '2001:db9::5', 0)).toBe(false)
      expect(admits(one(`from="*" ${ed}`), '::1', 0)).toBe(true)
      expect(admits(one(`from="1*1" ${ed}`), '127.0.0.1', 0)).toBe(true)
      expect(admits(one(`from="1*2" ${ed}`), '127.0.0.1', 0)).toBe(false)
    })

    it('refuses on any negated match, before or after a plain one, and never admits on negation alone', () => {
      expect(admits(one(`from="127.0.0.1,!127.0.0.0/8" ${ed}`), '127.0.0.1', 0)).toBe(false)
      expect(admits(one(`from="!127.0.0.*,127.0.0.1" ${ed}`), '127.0.0.1', 0)).toBe(false)
      expect(admits(one(`from="!2001:DB8::1,*" ${ed}`), '2001:db8::1', 0)).toBe(false)
      expect(admits(one(`from="!10.0.0.1" ${ed}`), '127.0.0.1', 0)).toBe(false)
      expect(admits(one(`from="!10.0.0.1,*" ${ed}`), '127.0.0.1', 0)).toBe(true)
    })

    it('checks an IPv4-mapped IPv6 peer as its IPv4 address', () => {
      expect(admits(one(`from="127.0.0.0/8" ${ed}`), '::ffff:127.0.0.1', 0)).toBe(true)
      expect(admits(one(`from="127.0.0.*" ${ed}`), '::FFFF:127.0.0.1', 0)).toBe(true)
      expect(admits(one(`from="::ffff:127.0.0.1" ${ed}`), '::ffff:127.0.0.1', 0)).toBe(false)
    })

    it('keeps blanks inside an entry, so " 127.0.0.1" matches nothing', () => {
      expect(admits(one(`from="10.9.9.9, 127.0.0.1" ${ed}`), '127.0.0.1', 0)).toBe(false)
    })

    it('ends wildcard matching at an entry of 1023 characters or more, as match_pattern_list does', () => {
      expect(admits(one(`from="2001:DB8::*" ${ed}`), '2001:db8::1', 0)).toBe(true)
      expect(admits(one(`from="2001:DB8::*,${'a'.repeat(1100)}" ${ed}`), '2001:db8::1', 0)).toBe(false)
      // Addresses are still matched by block.
      expect(admits(one(`from="2001:db8::/32,${'a'.repeat(1100)}" ${ed}`), '2001:db8::1', 0)).toBe(true)
    })
  })

  describe('option syntax', () => {
    it('reads option names in any case', () => {
      const key = one(`RESTRICT,Port-Forwarding,NO-PTY,From="127.0.0.1",PermitOpen="h:1",Expiry-Time="20300101Z" ${ed}`)
      expect(permitsOpen(key, 'h', 1)).toBe(true)
      expect(admits(key, '127.0.0.1', 0)).toBe(true)
      expect(admits(key, '10.0.0.1', 0)).toBe(false)
    })

    it('skips empty options between commas', () => {
      expect(one(`,restrict,,no-pty, ${ed}`).portForwarding).toBe(false)
    })

    it('unescapes \\" in values and keeps other backslashes', () => {
      const key = one(`command="echo \\"a, b\\" \\\\n",from="127.0.0.1" ${ed}`)
      expect(admits(key, '127.0.0.1', 0)).toBe(true)
    })

    it('ends the options at the first blank or tab outside quotes', () => {
      expect(one(`restrict\t${ed}`).portForwarding).toBe(false)
      expect(one(`command="a b\tc" ${ed}`).type).toBe('ssh-ed25519')
    })

    it('reads options whose values hold an @ or look like a key type', () => {
      expect(one(`command="ssh user@host" ${ed}`).type).toBe('ssh-ed25519')
      expect(one(`command="user@host" ${ed}`).type).toBe('ssh-ed25519')
    })

    it.each([
      ['text after a closing quote', `from="127.0.0.1""x" ${ed}`],
      ['text after a flag', `ptyx ${ed}`],
      ['a longer name starting with a flag', `restricted ${ed}`],
      ['no- on a flag without that form', `no-restrict ${ed}`],
      ['a value with no quotes', `command=ls ${ed}`],
      ['an option name with a blank before =', `from ="127.0.0.1" ${ed}`],
      ['two command options', `command="a",command="b" ${ed}`],
      ['touch-required (FIDO keys only, not supported)', `no-touch-required ${ed}`],
      ['verify-required (FIDO keys only, not supported)', `verify-required ${ed}`],
    ])('skips a line with %s', (_name, line) => {
      skipped(line)
    })

    it('checks values of options that have no effect here, as sshd refuses bad ones', () => {
      one(`environment="GOOD_1=x y",environment="GOOD_1=again",tunnel="any",tunnel="0",tunnel=" +5" ${ed}`)
      one(`permitlisten="8080",permitlisten="localhost:8080",permitlisten="[::1]:*",permitlisten="*:1" ${ed}`)
      for (const option of [
        'environment="NOEQUALS"', 'environment="=x"', 'environment="BAD-NAME=x"',
        'tunnel="tun0"', 'tunnel="-1"', 'tunnel="2147483646"',
        'permitlisten="localhost"', 'permitlisten="h:0"', 'permitlisten="h:65536"',
      ]) {
        skipped(`${option} ${ed}`)
      }
    })
  })

  describe('permitopen', () => {
    it('compares hosts exactly, as open_match does', () => {
      const key = one(`permitopen="localhost:8022" ${ed}`)
      expect(permitsOpen(key, 'localhost', 8022)).toBe(true)
      expect(permitsOpen(key, 'LOCALHOST', 8022)).toBe(false)
    })

    it('takes / as the separator, [] around a host, and ports as strtonum reads them', () => {
      const key = one(`permitopen="localhost/8022",permitopen="[10.0.0.1]:+22",permitopen="h:022" ${ed}`)
      expect(permitsOpen(key, 'localhost', 8022)).toBe(true)
      expect(permitsOpen(key, '10.0.0.1', 22)).toBe(true)
      expect(permitsOpen(key, 'h', 22)).toBe(true)
      expect(permitsOpen(key, 'h', 23)).toBe(false)
    })

    // `h:ssh` included: sshd looks a service name up in /etc/services, korv refuses the line.
    it.each([['h:0'], ['h:65536'], ['h:22x'], ['[::1]x:22'], ['[::1'], ['h'], ['h:'], [`${'h'.repeat(1025)}:22`], ['h:ssh']])(
      'skips a line with permitopen="%s"',
      (value) => {
        skipped(`permitopen="${value}" ${ed}`)
      },
    )
  })
})
