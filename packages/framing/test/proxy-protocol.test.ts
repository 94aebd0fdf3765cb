import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import { DEFAULT_MAX_PROXY_HEADER_BYTES } from '../src/constants.ts'
import { ProxyHeaderError, UsageError } from '../src/errors.ts'
import type { ProxyHeaderFailure } from '../src/errors.ts'
import { ProxyHeaderDecoder, encodeProxyHeader } from '../src/proxy-protocol.ts'
import type { DecodedProxyHeader, ProxyHeader, ProxyHeaderDecoderInit, ProxyTlv } from '../src/proxy-protocol.ts'
import { randomChunkings } from '../src/testing/chunkings.ts'
import { hex } from './helpers.ts'

const SIG = '0d0a0d0a000d0a515549540a'
const text = (s: string): Buffer => Buffer.from(s, 'latin1')
const FFFF6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'
/** A v2 header: the signature, then the given hex. */
const v2 = (rest: string): Buffer => hex(SIG + rest)
const u16 = (n: number): string => n.toString(16).padStart(4, '0')
/** A NUL-padded 108-byte sun_path. */
const sunPath = (path: string): string => Buffer.concat([text(path), Buffer.alloc(108 - path.length)]).toString('hex')

interface Outcome {
  decoded: DecodedProxyHeader | undefined
  /** The payload: the bytes after the header, from every chunk. */
  rest: Buffer
  error: ProxyHeaderError | undefined
}

/** Pushes `chunks` until a header or an error, then gathers what follows the header. */
function decode(chunks: readonly Buffer[], init?: ProxyHeaderDecoderInit): Outcome {
  const decoder = new ProxyHeaderDecoder(init)
  const rest: Buffer[] = []
  let decoded: DecodedProxyHeader | undefined
  try {
    for (const chunk of chunks) {
      if (decoded !== undefined) {
        rest.push(chunk)
        continue
      }
      decoded = decoder.push(chunk)
      if (decoded !== undefined) rest.push(chunk.subarray(decoded.offset))
    }
    decoder.end()
  } catch (err) {
    if (!(err instanceof ProxyHeaderError)) throw err
    return { decoded, rest: Buffer.concat(rest), error: err }
  }
  return { decoded, rest: Buffer.concat(rest), error: undefined }
}

const tcp = (version: 1 | 2, source: string, sourcePort: number, destination: string, destinationPort: number): ProxyHeader => ({
  version,
  command: 'proxy',
  transport: 'tcp',
  source: { address: source, port: sourcePort },
  destination: { address: destination, port: destinationPort },
})

describe('ProxyHeaderDecoder, byte-exact headers', () => {
  const http = text('GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n')
  it.each<[string, Buffer, ProxyHeader, ProxyHeaderDecoderInit?]>([
    ['v1 TCP4, the spec example', text('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'), tcp(1, '192.168.0.1', 56_324, '192.168.0.11', 443)],
    [
      'v1 TCP4, the longest',
      text('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n'),
      tcp(1, '255.255.255.255', 65_535, '255.255.255.255', 65_535),
    ],
    ['v1 TCP4, zeros', text('PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n'), tcp(1, '0.0.0.0', 0, '10.0.0.1', 0)],
    ['v1 TCP6, the longest', text(`PROXY TCP6 ${FFFF6} ${FFFF6} 65535 65535\r\n`), tcp(1, FFFF6, 65_535, FFFF6, 65_535)],
    [
      'v1 TCP6, compressed and mixed case, made canonical',
      text('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::FFFF:127.0.0.1 443 8080\r\n'),
      tcp(1, '2001:db8::1', 443, '::ffff:127.0.0.1', 8080),
    ],
    ['v1 TCP6, four-digit groups with zeros', text('PROXY TCP6 fe80:0000:0000:0000:0000:0000:0000:0001 ::1 1 2\r\n'), tcp(1, 'fe80::1', 1, '::1', 2)],
    ['v1 UNKNOWN, short form', text('PROXY UNKNOWN\r\n'), { version: 1, command: 'proxy', transport: 'unknown' }],
    [
      'v1 UNKNOWN, the worst case of 107 bytes, its fields ignored',
      text(`PROXY UNKNOWN ${FFFF6} ${FFFF6} 65535 65535\r\n`),
      { version: 1, command: 'proxy', transport: 'unknown' },
    ],
    ['v1 UNKNOWN, whatever follows ignored', text('PROXY UNKNOWN not an address at all\r\n'), { version: 1, command: 'proxy', transport: 'unknown' }],
    ['v1 in v1 mode', text('PROXY TCP4 1.2.3.4 5.6.7.8 9 10\r\n'), tcp(1, '1.2.3.4', 9, '5.6.7.8', 10), { mode: 'v1' }],
    ['v2 TCP over IPv4', v2('2111000c ac130001 ac130003 a652 0050'), tcp(2, '172.19.0.1', 42_578, '172.19.0.3', 80)],
    ['v2 TCP over IPv4 in v2 mode', v2('2111000c 7f000001 7f000002 0001 ffff'), tcp(2, '127.0.0.1', 1, '127.0.0.2', 65_535), { mode: 'v2' }],
    [
      'v2 UDP over IPv4',
      v2('2112000c 0a000001 0a000002 0035 1000'),
      { version: 2, command: 'proxy', transport: 'udp', source: { address: '10.0.0.1', port: 53 }, destination: { address: '10.0.0.2', port: 4096 } },
    ],
    [
      'v2 TCP over IPv6',
      v2(`21210024 20010db8000000000000000000000001 00000000000000000000ffff7f000001 01bb 1f90`),
      tcp(2, '2001:db8::1', 443, '::ffff:127.0.0.1', 8080),
    ],
    [
      'v2 UDP over IPv6',
      v2(`21220024 ${'00'.repeat(15)}01 ${'ff'.repeat(16)} 0000 0001`),
      { version: 2, command: 'proxy', transport: 'udp', source: { address: '::1', port: 0 }, destination: { address: FFFF6, port: 1 } },
    ],
    [
      'v2 UNIX stream',
      v2(`213100d8 ${sunPath('/run/client.sock')} ${sunPath('/run/server.sock')}`),
      {
        version: 2,
        command: 'proxy',
        transport: 'unix',
        source: { address: '/run/client.sock', port: 0 },
        destination: { address: '/run/server.sock', port: 0 },
      },
    ],
    [
      'v2 UNIX datagram, an abstract name and an unnamed peer',
      v2(`213200d8 00${sunPath('abstract').slice(0, -2)} ${sunPath('')}`),
      { version: 2, command: 'proxy', transport: 'unix', source: { address: '\0abstract', port: 0 }, destination: { address: '', port: 0 } },
    ],
    [
      'v2 with TLVs: ALPN, authority, CRC32C, an empty NOOP, SSL with sub-TLVs, a custom type',
      v2(
        `2111${u16(12 + 5 + 14 + 7 + 3 + 18 + 4)} 7f000001 7f000002 3039 0050` +
          `01 0002 6832` +
          `02 000b ${text('example.com').toString('hex')}` +
          `03 0004 deadbeef` +
          `04 0000` +
          `20 000f 01 00000000 21 0007 ${text('TLSv1.3').toString('hex')}` +
          `e0 0001 ff`,
      ),
      tcp(2, '127.0.0.1', 12_345, '127.0.0.2', 80),
    ],
    ['v2 LOCAL, a health check', v2('20000000'), { version: 2, command: 'local', transport: 'unknown' }],
    [
      'v2 LOCAL with an address block, skipped and its family ignored',
      v2('20f1000c 7f000001 7f000002 0001 0002'),
      { version: 2, command: 'local', transport: 'unknown' },
    ],
    ['v2 PROXY with UNSPEC family', v2('21000000'), { version: 2, command: 'proxy', transport: 'unknown' }],
    [
      'v2 PROXY over IPv4 with UNSPEC transport, the block ignored',
      v2('21100007 01020304 050607'),
      { version: 2, command: 'proxy', transport: 'unknown' },
    ],
  ])('%s', (_name, wire, header, init) => {
    for (const chunks of randomChunkings(Buffer.concat([wire, http]), 21)) {
      const out = decode(chunks, init)
      expect(out.error).toBeUndefined()
      expect(out.decoded?.header).toEqual(header)
      expect(out.decoded?.length).toBe(wire.length)
      expect(out.rest).toEqual(http)
    }
  })

  it('gives the offset of the payload in the chunk that ends the header', () => {
    const wire = text('PROXY UNKNOWN\r\nabc')
    expect(new ProxyHeaderDecoder().push(wire)).toMatchObject({ length: 15, offset: 15 })
    const decoder = new ProxyHeaderDecoder()
    expect(decoder.push(wire.subarray(0, 10))).toBeUndefined()
    expect(decoder.buffered).toBe(10)
    expect(decoder.push(wire.subarray(10))).toMatchObject({ length: 15, offset: 5 })
    expect(decoder.buffered).toBe(0)
  })

  it('accepts any Uint8Array view', () => {
    const backing = new Uint8Array([0x78, ...text('PROXY UNKNOWN\r\n'), 0x79])
    expect(new ProxyHeaderDecoder().push(backing.subarray(1, 16))).toMatchObject({ length: 15, offset: 15 })
  })
})

describe('ProxyHeaderDecoder, malformed headers', () => {
  const v1Tcp4 = (fields: string): Buffer => text(`PROXY TCP4 ${fields}\r\n`)
  it.each<[string, Buffer, ProxyHeaderFailure, RegExp, ProxyHeaderDecoderInit?]>([
    ['an HTTP request', text('GET / HTTP/1.1\r\n\r\n'), 'invalid', /first byte is 0x47, expected 0x50 \(v1\) or 0x0d \(v2\)/],
    ['a TLS hello', hex('16030100a5010000a103'), 'invalid', /first byte is 0x16/],
    ['v2 bytes in v1 mode', v2('20000000'), 'invalid', /first byte is 0x0d, expected 0x50 \(v1\)$/, { mode: 'v1' }],
    ['v1 bytes in v2 mode', text('PROXY UNKNOWN\r\n'), 'invalid', /first byte is 0x50, expected 0x0d \(v2\)$/, { mode: 'v2' }],
    ['"PROXY" misspelt', text('PROXZ UNKNOWN\r\n'), 'invalid', /byte 4 is 0x5a, expected 0x59/],
    ['"PROXY" without its space', text('PROXY\r\n'), 'invalid', /byte 5 is 0x0d, expected 0x20/],
    ['a lower-case protocol', text('PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n'), 'invalid', /protocol is "tcp4"/],
    ['an unknown protocol', text('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'invalid', /protocol is "UDP4"/],
    ['two spaces after PROXY', text('PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'invalid', /protocol is ""/],
    ['two spaces between fields', v1Tcp4('1.2.3.4  5.6.7.8 1 2'), 'invalid', /5 fields after TCP4/],
    ['a trailing space', v1Tcp4('1.2.3.4 5.6.7.8 1 2 '), 'invalid', /5 fields after TCP4/],
    ['a missing port', v1Tcp4('1.2.3.4 5.6.7.8 1'), 'invalid', /3 fields after TCP4/],
    ['TCP4 without fields', text('PROXY TCP4\r\n'), 'invalid', /0 fields after TCP4/],
    ['a tab for a space', v1Tcp4('1.2.3.4\t5.6.7.8 1 2'), 'invalid', /3 fields after TCP4/],
    ['an LF without CR', text('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), 'invalid', /LF without a CR at byte 30/],
    ['a lone LF inside UNKNOWN', text('PROXY UNKNOWN a\nb\r\n'), 'invalid', /LF without a CR at byte 15/],
    ['a CR without LF', text('PROXY UNKNOWN\rx\r\n'), 'invalid', /CR without an LF at byte 13/],
    ['no CRLF within 107 bytes', text(`PROXY UNKNOWN ${FFFF6} ${FFFF6} 65535 655350\r\n`), 'invalid', /no CRLF within 107 bytes/],
    ['no CR at all', text(`PROXY UNKNOWN ${'a'.repeat(200)}`), 'invalid', /no CRLF within 107 bytes/],
    ['an octet over 255', v1Tcp4('256.1.1.1 5.6.7.8 1 2'), 'invalid', /source address "256\.1\.1\.1" is not an IPv4 address/],
    ['an octet with a leading zero', v1Tcp4('1.2.3.4 5.6.7.08 1 2'), 'invalid', /destination address "5\.6\.7\.08"/],
    ['three octets', v1Tcp4('1.2.3 5.6.7.8 1 2'), 'invalid', /source address "1\.2\.3"/],
    ['five octets', v1Tcp4('1.2.3.4.5 5.6.7.8 1 2'), 'invalid', /source address/],
    ['an IPv6 address in TCP4', v1Tcp4('::1 5.6.7.8 1 2'), 'invalid', /source address "::1" is not an IPv4 address/],
    ['an IPv4 address in TCP6', text('PROXY TCP6 ::1 5.6.7.8 1 2\r\n'), 'invalid', /destination address "5\.6\.7\.8" is not an IPv6 address/],
    ['an IPv6 zone', text('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), 'invalid', /source address "fe80::1%eth0"/],
    ['two "::"', text('PROXY TCP6 1::2::3 ::1 1 2\r\n'), 'invalid', /source address "1::2::3"/],
    ['nine IPv6 groups', text('PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n'), 'invalid', /source address/],
    ['seven IPv6 groups', text('PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n'), 'invalid', /source address/],
    ['a five-digit IPv6 group', text('PROXY TCP6 00001::1 ::1 1 2\r\n'), 'invalid', /source address/],
    ['a dotted tail that is not last', text('PROXY TCP6 1.2.3.4::1 ::1 1 2\r\n'), 'invalid', /source address/],
    ['port 65536', v1Tcp4('1.2.3.4 5.6.7.8 65536 2'), 'invalid', /source port "65536" is not a number from 0 to 65535/],
    ['port 99999', v1Tcp4('1.2.3.4 5.6.7.8 1 99999'), 'invalid', /destination port "99999"/],
    ['a six-digit port', v1Tcp4('1.2.3.4 5.6.7.8 100000 2'), 'invalid', /source port "100000"/],
    ['a port with a leading zero', v1Tcp4('1.2.3.4 5.6.7.8 080 2'), 'invalid', /source port "080"/],
    ['a port of two zeros', v1Tcp4('1.2.3.4 5.6.7.8 1 00'), 'invalid', /destination port "00"/],
    ['a negative port', v1Tcp4('1.2.3.4 5.6.7.8 -1 2'), 'invalid', /source port "-1"/],
    ['a port in hex', v1Tcp4('1.2.3.4 5.6.7.8 0x50 2'), 'invalid', /source port "0x50"/],
    ['a port with a sign', v1Tcp4('1.2.3.4 5.6.7.8 +80 2'), 'invalid', /source port "\+80"/],
    ['a port with a sign inside', v1Tcp4('1.2.3.4 5.6.7.8 8+0 2'), 'invalid', /source port "8\+0"/],
    ['a port of many digits', v1Tcp4(`1.2.3.4 5.6.7.8 1 ${'9'.repeat(60)}`), 'invalid', /destination port "9{60}"/],
    ['a v1 line over maxBytes', text('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'too-large', /no CRLF within maxBytes \(20\)/, { maxBytes: 20 }],
    ['a bad v2 signature', hex('0d0a0d0a010d0a515549540a20000000'), 'invalid', /byte 4 is 0x01, expected 0x00/],
    ['v2 version 1', v2('11000000'), 'invalid', /version is 1, not 2/],
    ['v2 version 3', v2('31000000'), 'invalid', /version is 3, not 2/],
    ['v2 command 2', v2('22000000'), 'invalid', /command is 2, neither LOCAL \(0\) nor PROXY \(1\)/],
    ['v2 command 15', v2('2f000000'), 'invalid', /command is 15/],
    ['v2 family 4', v2('21410000'), 'invalid', /address family is 4/],
    ['v2 transport 3', v2('21130000'), 'invalid', /transport is 3/],
    ['v2 IPv4 block too short', v2('2111000b 7f000001 7f000002 0001 00'), 'invalid', /address block has 11 bytes, fewer than the 12/],
    ['v2 IPv6 block too short', v2(`21210023 ${'00'.repeat(35)}`), 'invalid', /35 bytes, fewer than the 36/],
    ['v2 UNIX block too short', v2(`213100d7 ${'00'.repeat(215)}`), 'invalid', /215 bytes, fewer than the 216/],
    ['v2 empty IPv4 block', v2('21110000'), 'invalid', /0 bytes, fewer than the 12/],
    ['a TLV head cut off', v2('2111000e 7f000001 7f000002 0001 0002 0100'), 'invalid', /TLV at byte 28 is cut off: 2 of its 3 head bytes/],
    ['a TLV running past the header', v2('21110012 7f000001 7f000002 0001 0002 01 0004 683268'), 'invalid', /TLV of type 0x01 at byte 28 runs 1 bytes past/],
    [
      'a TLV running past the header, the payload after it not read',
      v2('21110011 7f000001 7f000002 0001 0002 02 ffff 68 474554'),
      'invalid',
      /type 0x02 at byte 28 runs 65533 bytes past/,
    ],
    ['a second TLV running past', v2('21110013 7f000001 7f000002 0001 0002 04 0000 01 0002 68'), 'invalid', /TLV of type 0x01 at byte 31 runs 1 bytes/],
    ['a v2 header over the default maxBytes', v2(`2111${u16(DEFAULT_MAX_PROXY_HEADER_BYTES - 15)}`), 'too-large', /takes 4097 bytes, over maxBytes \(4096\)/],
    ['a v2 header over maxBytes', v2('2111000c 7f000001 7f000002 0001 0002'), 'too-large', /takes 28 bytes, over maxBytes \(27\)/, { maxBytes: 27 }],
    ['a LOCAL header over maxBytes', v2('2000ffff'), 'too-large', /takes 65551 bytes/],
    ['nothing at all', Buffer.alloc(0), 'closed', /ended before a PROXY header/],
    ['a v1 line cut off', text('PROXY TCP4 1.2.3.4'), 'closed', /ended after 18 bytes, inside the PROXY header/],
    ['a v1 line cut off after its CR', text('PROXY UNKNOWN\r'), 'closed', /ended after 14 bytes/],
    ['a v2 header cut off', v2('2111000c 7f000001'), 'closed', /ended after 20 bytes/],
  ])('%s', (_name, wire, reason, message, init) => {
    for (const chunks of randomChunkings(wire, 5)) {
      const out = decode(chunks, init)
      expect(out.decoded).toBeUndefined()
      expect(out.error?.reason).toBe(reason)
      expect(out.error?.message).toMatch(message)
      expect(out.error?.code).toBe('ERR_PROTO_PROXY_HEADER')
    }
  })

  it('fails at the first byte that no header starts with, without waiting for more', () => {
    expect(() => new ProxyHeaderDecoder().push(text('G'))).toThrow(ProxyHeaderError)
    expect(() => new ProxyHeaderDecoder({ mode: 'v1' }).push(hex('0d'))).toThrow(/first byte is 0x0d/)
    expect(() => new ProxyHeaderDecoder({ mode: 'v2' }).push(text('P'))).toThrow(/first byte is 0x50/)
    expect(() => new ProxyHeaderDecoder().push(text('PROXI'))).toThrow(/byte 4/)
    expect(() => new ProxyHeaderDecoder().push(hex('0d0a0d0a000d0a5155495400'))).toThrow(/byte 11/)
    expect(() => new ProxyHeaderDecoder().push(v2('11'))).toThrow(/version is 1/)
  })

  it('in any mode, takes the version from the first byte', () => {
    const v1 = new ProxyHeaderDecoder({ mode: 'any' })
    expect(v1.push(hex('50'))).toBeUndefined()
    expect(() => v1.push(hex('0a'))).toThrow(/not a PROXY v1 header: byte 1/)
    const v2Decoder = new ProxyHeaderDecoder({ mode: 'any' })
    expect(v2Decoder.push(hex('0d'))).toBeUndefined()
    expect(() => v2Decoder.push(hex('50'))).toThrow(/not a PROXY v2 signature: byte 1/)
  })

  it('refuses a v2 header over maxBytes from its 16 fixed bytes, before holding the rest', () => {
    const decoder = new ProxyHeaderDecoder({ maxBytes: 100 })
    expect(() => decoder.push(v2(`2111${u16(85)}`))).toThrow(expect.objectContaining({ reason: 'too-large' }))
    expect(decoder.buffered).toBe(0)
  })

  it('holds no more than maxBytes of a header that is not done', () => {
    const decoder = new ProxyHeaderDecoder({ maxBytes: 60 })
    decoder.push(text('PROXY UNKNOWN '))
    expect(() => decoder.push(Buffer.alloc(1000, 0x61))).toThrow(/no CRLF within maxBytes \(60\)/)
    expect(decoder.buffered).toBe(0)
    const v2Decoder = new ProxyHeaderDecoder({ maxBytes: 31 })
    v2Decoder.push(v2('2111000f'))
    expect(v2Decoder.push(Buffer.alloc(14))).toBeUndefined()
    expect(v2Decoder.buffered).toBe(30)
    expect(v2Decoder.push(Buffer.alloc(1000))).toMatchObject({ length: 31, offset: 1 })
  })

  it('accepts a header of exactly maxBytes, the default included', () => {
    const block = `2111${u16(DEFAULT_MAX_PROXY_HEADER_BYTES - 16)} 7f000001 7f000002 0001 0002 e0${u16(DEFAULT_MAX_PROXY_HEADER_BYTES - 31)}`
    const wire = Buffer.concat([v2(block), Buffer.alloc(DEFAULT_MAX_PROXY_HEADER_BYTES - 31)])
    expect(wire.length).toBe(DEFAULT_MAX_PROXY_HEADER_BYTES)
    expect(new ProxyHeaderDecoder().push(wire)?.header).toEqual(tcp(2, '127.0.0.1', 1, '127.0.0.2', 2))
  })

  it('keeps throwing its error, and refuses pushes after a header', () => {
    const thrown = (fn: () => unknown): unknown => {
      try {
        fn()
      } catch (err) {
        return err
      }
      return expect.unreachable('nothing thrown')
    }
    const failed = new ProxyHeaderDecoder()
    const first = thrown(() => failed.push(text('X')))
    expect(first).toBeInstanceOf(ProxyHeaderError)
    expect(thrown(() => failed.push(text('PROXY UNKNOWN\r\n')))).toBe(first)
    expect(thrown(() => failed.end())).toBe(first)
    const done = new ProxyHeaderDecoder()
    done.push(text('PROXY UNKNOWN\r\n'))
    expect(() => done.push(text('x'))).toThrow(UsageError)
    expect(() => done.end()).not.toThrow()
  })

  it('refuses bad options', () => {
    expect(() => new ProxyHeaderDecoder({ maxBytes: 15 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => new ProxyHeaderDecoder({ maxBytes: 16 })).not.toThrow()
    expect(() => new ProxyHeaderDecoder({ mode: 'v3' as 'v1' })).toThrow(/mode must be/)
  })
})

describe('encodeProxyHeader', () => {
  it.each<[string, ProxyHeader, Buffer, ProxyTlv[]?]>([
    ['v1 TCP4', tcp(1, '192.168.0.1', 56_324, '192.168.0.11', 443), text('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n')],
    ['v1 TCP6, written compressed', tcp(1, '2001:DB8:0:0:0:0:0:1', 1, '0:0:0:0:0:ffff:7f00:1', 2), text('PROXY TCP6 2001:db8::1 ::ffff:127.0.0.1 1 2\r\n')],
    ['v1 UNKNOWN', { version: 1, command: 'proxy', transport: 'unknown' }, text('PROXY UNKNOWN\r\n')],
    ['v2 TCP over IPv4', tcp(2, '172.19.0.1', 42_578, '172.19.0.3', 80), v2('2111000c ac130001 ac130003 a652 0050')],
    [
      'v2 UDP over IPv6',
      { version: 2, command: 'proxy', transport: 'udp', source: { address: '::1', port: 0 }, destination: { address: FFFF6, port: 1 } },
      v2(`21220024 ${'00'.repeat(15)}01 ${'ff'.repeat(16)} 0000 0001`),
    ],
    [
      'v2 UNIX',
      { version: 2, command: 'proxy', transport: 'unix', source: { address: '/a', port: 0 }, destination: { address: '\0b', port: 0 } },
      v2(`213100d8 ${sunPath('/a')} 00${sunPath('b').slice(0, -2)}`),
    ],
    ['v2 LOCAL', { version: 2, command: 'local', transport: 'unknown' }, v2('20000000')],
    ['v2 UNSPEC', { version: 2, command: 'proxy', transport: 'unknown' }, v2('21000000')],
    [
      'v2 with TLVs',
      tcp(2, '127.0.0.1', 1, '127.0.0.2', 2),
      v2('21110017 7f000001 7f000002 0001 0002 01 0002 6832 04 0000 e0 0000'),
      [
        { type: 1, value: text('h2') },
        { type: 4, value: new Uint8Array(0) },
        { type: 0xe0, value: new Uint8Array(0) },
      ],
    ],
    ['v2 LOCAL with a TLV', { version: 2, command: 'local', transport: 'unknown' }, v2('20000004 04 0001 00'), [{ type: 4, value: new Uint8Array(1) }]],
  ])('%s', (_name, header, wire, tlvs) => {
    expect(encodeProxyHeader(header, { tlvs }).toString('hex')).toBe(wire.toString('hex'))
  })

  it.each<[string, ProxyHeader, RegExp, ProxyTlv[]?]>([
    ['a v1 LOCAL header', { version: 1, command: 'local', transport: 'unknown' }, /no LOCAL command/],
    [
      'a v1 UDP header',
      { version: 1, command: 'proxy', transport: 'udp', source: { address: '1.2.3.4', port: 1 }, destination: { address: '1.2.3.4', port: 1 } },
      /TCP only, not udp/,
    ],
    [
      'a v1 UNIX header',
      { version: 1, command: 'proxy', transport: 'unix', source: { address: '/a', port: 0 }, destination: { address: '/b', port: 0 } },
      /TCP only, not unix/,
    ],
    ['TLVs on a v1 header', { version: 1, command: 'proxy', transport: 'unknown' }, /no TLVs/, [{ type: 1, value: new Uint8Array(0) }]],
    ['a version 3', { version: 3 as 1, command: 'proxy', transport: 'unknown' }, /version is 1 or 2/],
    ['a command of none', { version: 2, command: 'none' as 'local', transport: 'unknown' }, /command is 'proxy' or 'local'/],
    ['a transport of none', { ...tcp(2, '1.2.3.4', 1, '1.2.3.4', 1), transport: 'sctp' as 'tcp' }, /transport is tcp, udp, unix or unknown/],
    ['a LOCAL header with addresses', { ...tcp(2, '1.2.3.4', 1, '1.2.3.4', 1), command: 'local' }, /LOCAL PROXY header has transport 'unknown'/],
    ['addresses with an unknown transport', { ...tcp(2, '1.2.3.4', 1, '1.2.3.4', 1), transport: 'unknown' }, /'unknown' has no addresses/],
    ['no destination', { version: 2, command: 'proxy', transport: 'tcp', source: { address: '1.2.3.4', port: 1 } }, /needs a source and a destination/],
    ['two families', tcp(2, '1.2.3.4', 1, '::1', 1), /not two IPv4 or two IPv6 addresses/],
    ['a host name', tcp(1, 'localhost', 1, '127.0.0.1', 1), /"localhost"/],
    ['an IPv4 octet with a leading zero', tcp(1, '127.0.0.01', 1, '127.0.0.1', 1), /"127\.0\.0\.01"/],
    ['port 65536', tcp(2, '1.2.3.4', 65_536, '1.2.3.4', 1), /got 65536/],
    ['port -1', tcp(1, '1.2.3.4', 1, '1.2.3.4', -1), /got -1/],
    ['port 1.5', tcp(1, '1.2.3.4', 1.5, '1.2.3.4', 1), /got 1\.5/],
    [
      'a UNIX address with a port',
      { version: 2, command: 'proxy', transport: 'unix', source: { address: '/a', port: 1 }, destination: { address: '/b', port: 0 } },
      /port 0, got 1/,
    ],
    [
      'a UNIX path over 108 bytes',
      { version: 2, command: 'proxy', transport: 'unix', source: { address: `/${'a'.repeat(108)}`, port: 0 }, destination: { address: '/b', port: 0 } },
      /not a UNIX path of at most 108 bytes/,
    ],
    [
      'a UNIX path with a NUL inside',
      { version: 2, command: 'proxy', transport: 'unix', source: { address: '/a\0b', port: 0 }, destination: { address: '/b', port: 0 } },
      /not a UNIX path/,
    ],
    [
      'an abstract name ending in NUL',
      { version: 2, command: 'proxy', transport: 'unix', source: { address: '\0a\0', port: 0 }, destination: { address: '/b', port: 0 } },
      /not a UNIX path/,
    ],
    ['a TLV type over 255', { version: 2, command: 'local', transport: 'unknown' }, /TLV type is a byte, got 256/, [{ type: 256, value: new Uint8Array(0) }]],
    ['a TLV over 65535 bytes', { version: 2, command: 'local', transport: 'unknown' }, /at most 65535 bytes, got 65536/, [{ type: 1, value: new Uint8Array(65_536) }]],
    [
      'a v2 block over 65535 bytes',
      tcp(2, '1.2.3.4', 1, '1.2.3.4', 1),
      /at most 65535 bytes after its first 16, got 65550/,
      [{ type: 1, value: new Uint8Array(65_535) }],
    ],
  ])('refuses %s', (_name, header, message, tlvs) => {
    expect(() => encodeProxyHeader(header, { tlvs })).toThrow(UsageError)
    expect(() => encodeProxyHeader(header, { tlvs })).toThrow(message)
  })
})
