import { Buffer } from 'node:buffer'
import net from 'node:net'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ipv4Bytes, ipv4Text, ipv6Bytes, ipv6Text, isIPv4 } from '../src/ip-address.ts'
import { hex, numRuns } from './helpers.ts'

/** How Node writes an IPv6 address it reports for a peer. */
const nodeText = (address: string): string => new net.SocketAddress({ address, family: 'ipv6' }).address

/** The 16 bytes as eight full groups, a form with no compression to undo. */
const fullForm = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').match(/.{4}/g)?.join(':') ?? ''

/** Bytes rich in zero groups, so runs of every length and place turn up. */
const ipv6 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
  .map((groups) => {
    const out = Buffer.alloc(16)
    groups.forEach((g, i) => out.writeUInt16BE(g, i * 2))
    return out
  })

describe('IPv4', () => {
  it.each(['0.0.0.0', '127.0.0.1', '255.255.255.255', '10.20.30.40', '1.2.3.4'])('accepts %s', (text) => {
    expect(isIPv4(text)).toBe(true)
    const bytes = ipv4Bytes(text)
    expect(bytes && ipv4Text(bytes, 0)).toBe(text)
  })

  it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.00', '1.2.3.-1', ' 1.2.3.4', '1.2.3.4 ', '1..3.4', 'a.b.c.d', '1.2.3.4\n', '١.2.3.4'])(
    'refuses %j',
    (text) => {
      expect(isIPv4(text)).toBe(false)
      expect(ipv4Bytes(text)).toBeUndefined()
    },
  )
})

describe('IPv6', () => {
  it.each([
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:DB8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['fe80:0000:0000:0000:0000:0000:0000:0001', 'fe800000000000000000000000000001'],
    ['::ffff:127.0.0.1', '00000000000000000000ffff7f000001'],
    ['::1.2.3.4', '00000000000000000000000001020304'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
  ])('reads %s', (text, bytes) => {
    expect(ipv6Bytes(text)?.toString('hex')).toBe(bytes)
  })

  it.each([
    '',
    ':',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '00001::',
    ':1::',
    '1::2:',
    'g::',
    '::1.2.3',
    '::1.2.3.04',
    '1.2.3.4::',
    '::1.2.3.4:5',
    '1:2:3:4:5:6:7:1.2.3.4',
    'fe80::1%eth0',
    ' ::1',
    '1.2.3.4',
  ])('refuses %j', (text) => {
    expect(ipv6Bytes(text)).toBeUndefined()
  })

  it.each([
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['00010000000000000000000000000000', '1::'],
    ['00010000000100000000000000010000', '1:0:1::1:0'],
    ['00010000000000010000000000010001', '1::1:0:0:1:1'],
    ['00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
    ['00010000000200030004000500060007', '1:0:2:3:4:5:6:7'],
    ['00000000000000000000ffff7f000001', '::ffff:127.0.0.1'],
    ['00000000000000000000000001020304', '::1.2.3.4'],
    ['000000000000000000000000ffff0000', '::255.255.0.0'],
    ['abcdef00000000000000000000000000', 'abcd:ef00::'],
  ])('writes %s as %s', (bytes, text) => {
    expect(ipv6Text(hex(bytes), 0)).toBe(text)
    expect(nodeText(text)).toBe(text)
  })

  it('writes any address as Node reports it, and reads it back', () => {
    fc.assert(
      fc.property(ipv6, (bytes) => {
        const text = ipv6Text(bytes, 0)
        expect(text).toBe(nodeText(fullForm(bytes)))
        expect(ipv6Bytes(text)).toEqual(bytes)
        expect(ipv6Bytes(fullForm(bytes))).toEqual(bytes)
      }),
      { numRuns },
    )
  })
})
