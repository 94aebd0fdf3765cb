import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeRequest, encodeResponse } from '../src/codec.ts'
import type { KarpFrame } from '../src/frame.ts'
import { ErrorCode, KarpDataError } from '../src/errors.ts'
import { meaning, payloadOf, vectors, wire } from './helpers.ts'

// Canonical frames: decoding then encoding gives the original's bytes back (spec §6).
const ROUND_TRIP = [
  'karp_simple_echo/client/0',
  'karp_simple_echo/server/0',
  'karp_empty_payload/server/0',
  'karp_unicode_payload/client/0',
  'karp_medium_7000/client/0',
  'karp_medium_7000/server/0',
  'karp_unknown_route/client/0',
  'karp_handler_exception/client/0',
  'karp_handler_exception/server/0',
  'karp_handler_returns_none/server/0',
  'karp_handler_returns_int/client/0',
  'karp_uppercase_route_client/client/0',
  'karp_uppercase_route_client/server/0',
  'karp_route_registered_uppercase/server/0',
  'karp_underscore_route/client/0',
  'karp_server_to_client_request/client/0',
  'karp_server_to_client_request/server/0',
  'karp_server_to_client_request/server/1',
  'karp_pipelined_three/client/1',
  'karp_pipelined_three/client/2',
  'karp_pipelined_three/server/1',
  'karp_pipelined_three/server/2',
  'karp_async_handler/server/0',
  'karp_raw_two_frames_one_write/client/1',
  'karp_raw_two_frames_one_write/server/0',
  'karp_raw_response_frame_to_server/client/0',
  'karp_raw_response_frame_to_server/client/1',
  'karp_raw_no_response_flag/client/0',
  'karp_raw_non_utf8_bytes/client/1',
  'karp_raw_garbage_then_valid/server/0',
  'karp_raw_no_newline/server/0',
  'karp_raw_crlf/server/0',
  'karp_raw_empty_lines/server/0',
]

// Accepted, but not in the form our encoder writes.
const DECODE_ONLY = [
  'karp_raw_uppercase_route_on_wire/client/0',
  'karp_raw_trailing_garbage/client/0',
  'karp_raw_crlf/client/0',
  'karp_raw_no_newline/client/0',
]

const REJECTED = {
  'karp_raw_clen_mismatch/client/0': ErrorCode.LENGTH_MISMATCH,
  'karp_raw_bad_base64_padding/client/0': ErrorCode.BAD_BASE64,
  'karp_raw_nonbase64_char_in_data/client/0': ErrorCode.BAD_BASE64,
  'karp_digit_in_route/client/0': ErrorCode.BAD_FRAME,
  'karp_raw_garbage_then_valid/client/0': ErrorCode.BAD_FRAME,
} as const

// Exercised on live sockets in server.integration.test.ts and hostile.test.ts: empty lines, and
// the cases where the original sent nothing.
const LIVE_ONLY = [
  'karp_raw_empty_lines/client/0',
  'karp_raw_empty_lines/client/1',
  'karp_raw_empty_lines/client/3',
  'karp_large_100000/server/none',
  'karp_digit_in_route/server/none',
  'karp_no_response_wanted/server/none',
  'karp_raw_bad_base64_padding/server/none',
  'karp_raw_non_utf8_payload/server/none',
  'karp_raw_split_across_writes/server/none',
  'karp_raw_no_response_flag/server/none',
  'karp_raw_non_utf8_bytes/server/none',
  'karp_raw_short_id/server/none',
]

/** The frame a vector's meaning describes, with the payload as bytes. */
function expectedFrame(name: string): KarpFrame {
  const m = meaning(name)
  const id = m.request_id ?? expect.unreachable('no id')
  const data = Buffer.from(payloadOf(m))
  return m.kind === 'request'
    ? { type: 'request', route: (m.route ?? '').toLowerCase(), id, wantsReply: m.response_wanted === true, data }
    : { type: 'response', id, success: m.successful === true, data }
}

function encode(frame: KarpFrame): Uint8Array {
  return frame.type === 'request' ? encodeRequest(frame) : encodeResponse(frame)
}

function codeOf(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return (err as { code?: unknown }).code
  }
  return 'no error'
}

describe('vectors', () => {
  it('covers every vector in karp.json', () => {
    const covered = [...ROUND_TRIP, ...DECODE_ONLY, ...Object.keys(REJECTED), ...LIVE_ONLY].sort()
    expect(covered).toEqual(vectors.map((v) => v.name).sort())
  })

  it.each(ROUND_TRIP)('%s decodes to its meaning and re-encodes byte for byte', (name) => {
    const bytes = wire(name)
    const frame = decodeFrame(bytes)
    expect(frame).toEqual(expectedFrame(name))
    expect(Buffer.from(encode(frame))).toEqual(bytes)
    expect(Buffer.from(encode(expectedFrame(name)))).toEqual(bytes)
    const m = meaning(name)
    expect(bytes.toString('latin1')).toContain(`C_LEN${m.c_len_field}KARP_DATA`)
  })

  it('lowercases the route on send, as the original client did for ECHO', () => {
    const m = meaning('karp_uppercase_route_client/client/0')
    const bytes = encodeRequest({ route: 'ECHO', id: m.request_id ?? '', data: payloadOf(m), wantsReply: true })
    expect(Buffer.from(bytes)).toEqual(wire('karp_uppercase_route_client/client/0'))
  })

  it('reads an upper-case route on the wire as lower case', () => {
    const frame = decodeFrame(wire('karp_raw_uppercase_route_on_wire/client/0'))
    expect(frame).toEqual(expectedFrame('karp_raw_uppercase_route_on_wire/client/0'))
    expect(frame).toMatchObject({ type: 'request', route: 'echo' })
  })

  it.each(['karp_raw_trailing_garbage/client/0', 'karp_raw_crlf/client/0', 'karp_raw_no_newline/client/0'])(
    '%s decodes to the same frame as its canonical form',
    (name) => {
      const frame = decodeFrame(wire(name))
      expect(frame).toEqual(expectedFrame(name))
      const canonical = Buffer.from(encode(frame))
      expect(wire(name).toString('latin1')).not.toBe(canonical.toString('latin1'))
      expect(decodeFrame(canonical)).toEqual(frame)
    },
  )

  it.each(Object.entries(REJECTED))('%s is rejected with %s', (name, code) => {
    expect(codeOf(() => decodeFrame(wire(name)))).toBe(code)
  })

  it('gives the id of a frame whose C_LEN is wrong, so it can be answered', () => {
    let caught: unknown
    try {
      decodeFrame(wire('karp_raw_clen_mismatch/client/0'))
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(KarpDataError)
    expect(caught).toMatchObject({
      code: ErrorCode.LENGTH_MISMATCH,
      id: '0000000000000002',
      declared: 999,
      actual: 4,
      header: { type: 'request', route: 'echo', id: '0000000000000002', wantsReply: true },
    })
  })

  it.each(['karp_raw_bad_base64_padding/client/0', 'karp_raw_nonbase64_char_in_data/client/0'])(
    '%s reports bad base64 with its id',
    (name) => {
      expect(() => decodeFrame(wire(name))).toThrow(
        expect.objectContaining({ code: ErrorCode.BAD_BASE64, id: meaning(name).request_id }),
      )
    },
  )

  it('refuses to send route v2, which the original sent and never got answered', () => {
    expect(codeOf(() => encodeRequest({ route: 'v2', id: '4423232218340629', data: 'x', wantsReply: true }))).toBe(
      ErrorCode.INVALID_ROUTE,
    )
  })
})

describe('decodeFrame', () => {
  const ok = (s: string): KarpFrame => decodeFrame(Buffer.from(s, 'latin1'))
  const bad = (s: string | Buffer): unknown => codeOf(() => decodeFrame(typeof s === 'string' ? Buffer.from(s, 'latin1') : s))

  it.each([
    ['KARP_HEAD echo', 'KARP_HEAD followed by a space'],
    ['KARP_HEA', 'a short head'],
    ['', 'an empty line'],
    ['KARP_HEAD21' + '1'.repeat(16) + 'C_LEN0KARP_DATAKARP_END', 'response type 2'],
    ['KARP_HEAD0' + '1'.repeat(16) + 'C_LEN0KARP_DATAKARP_END', 'a digit where the route goes'],
    ['KARP_HEAD12' + '1'.repeat(16) + 'C_LEN0KARP_DATAKARP_END', 'success flag 2'],
    ['KARP_HEADecho02' + '1'.repeat(16) + 'C_LEN0KARP_DATAKARP_END', 'response-wanted flag 2'],
    ['KARP_HEADecho11' + '1'.repeat(16) + 'C_LEN0KARP_DATAKARP_END', 'a request of type 1'],
    ['KARP_HEADecho01123C_LEN4KARP_DATAaGk=KARP_END', 'a 3-digit id (karp_raw_short_id)'],
    ['KARP_HEADecho01' + '12345678901234a6' + 'C_LEN0KARP_DATAKARP_END', 'an id with a letter'],
    ['KARP_HEADech{01' + '1'.repeat(16) + 'C_LEN0KARP_DATAKARP_END', 'a route byte above z'],
    ['KARP_HEADecho01' + '1'.repeat(16) + 'C_LENKARP_DATAKARP_END', 'C_LEN without digits'],
    ['KARP_HEADecho01' + '1'.repeat(16) + 'C_LEN4KARP_DATaGk=KARP_END', 'a broken KARP_DATA'],
    ['KARP_HEADecho01' + '1'.repeat(16) + 'C_LEN4KARP_DATAaGk=', 'no KARP_END'],
    ['KARP_HEADecho01' + '1'.repeat(16) + 'C_LEN4KARP_DATAaGk=KARP_EN', 'a cut KARP_END'],
    ['KARP_HEADecho01' + '1'.repeat(16) + 'CLEN4KARP_DATAaGk=KARP_END', 'a misspelt C_LEN'],
  ])('rejects %j (%s) as a bad frame', (line) => {
    expect(bad(line)).toBe(ErrorCode.BAD_FRAME)
  })

  it('rejects raw non-UTF-8 bytes as a bad frame', () => {
    expect(bad(Buffer.from([0xff, 0xfe]))).toBe(ErrorCode.BAD_FRAME)
  })

  it('accepts leading zeros in C_LEN and a huge C_LEN is a mismatch, not a crash', () => {
    expect(ok('KARP_HEADecho01' + '1'.repeat(16) + 'C_LEN0004KARP_DATAaGk=KARP_END').data).toEqual(Buffer.from('hi'))
    const huge = 'KARP_HEADecho01' + '1'.repeat(16) + 'C_LEN' + '9'.repeat(3_000_000) + 'KARP_DATAaGk=KARP_END'
    expect(() => decodeFrame(Buffer.from(huge, 'latin1'))).toThrow(
      expect.objectContaining({ code: ErrorCode.LENGTH_MISMATCH, declared: Number.POSITIVE_INFINITY, actual: 4 }),
    )
    expect(bad('KARP_HEADecho01' + '1'.repeat(16) + 'C_LEN' + '0'.repeat(100_000) + '4KARP_DATAaGk=KARP_END')).toBe(
      'no error',
    )
  })

  it.each([
    ['aGk', 'missing padding'],
    ['aG=k', 'padding inside'],
    ['a===', 'three padding characters'],
    ['aGk-', 'the URL-safe alphabet'],
    ['aG k', 'a space'],
    ['aGk=aGk=', 'padding between groups'],
    ['====', 'padding only'],
    ['aGk=\r', 'a CR before KARP_END'],
  ])('rejects data %j (%s) as bad base64', (data) => {
    const line = `KARP_HEADecho01${'1'.repeat(16)}C_LEN${data.length}KARP_DATA${data}KARP_END`
    expect(bad(line)).toBe(ErrorCode.BAD_BASE64)
  })

  it('takes the data up to the first KARP_END and ignores the rest of the line', () => {
    const frame = ok('KARP_HEAD11' + '2'.repeat(16) + 'C_LEN4KARP_DATAaGk=KARP_ENDKARP_END junk \r')
    expect(frame).toEqual({ type: 'response', id: '2'.repeat(16), success: true, data: Buffer.from('hi') })
  })

  it('accepts the whole received route class [A-z], lowercased', () => {
    expect(ok('KARP_HEADA[\\]^_`z00' + '3'.repeat(16) + 'C_LEN0KARP_DATAKARP_END')).toMatchObject({
      route: 'a[\\]^_`z',
      wantsReply: false,
    })
  })

  it('decodes from a Uint8Array view inside a larger buffer', () => {
    const bytes = wire('karp_simple_echo/client/0')
    const big = new Uint8Array(bytes.length + 10)
    big.set(bytes, 5)
    expect(decodeFrame(big.subarray(5, 5 + bytes.length))).toEqual(decodeFrame(bytes))
  })
})

describe('encoders', () => {
  it('writes bytes and strings alike, and empty data as C_LEN0', () => {
    const id = '0'.repeat(16)
    expect(Buffer.from(encodeResponse({ id, success: true, data: new Uint8Array([0xff]) })).toString()).toBe(
      `KARP_HEAD11${id}C_LEN4KARP_DATA/w==KARP_END\n`,
    )
    expect(Buffer.from(encodeRequest({ route: 'a', id, data: '', wantsReply: false })).toString()).toBe(
      `KARP_HEADa00${id}C_LEN0KARP_DATAKARP_END\n`,
    )
  })

  it.each(['', 'v2', 'get-user', 'ab c', 'ünï', '['])('refuses route %j', (route) => {
    expect(codeOf(() => encodeRequest({ route, id: '1'.repeat(16), data: '', wantsReply: true }))).toBe(
      ErrorCode.INVALID_ROUTE,
    )
  })

  it.each(['123', '12345678901234567', '123456789012345a', ''])('refuses id %j', (id) => {
    expect(codeOf(() => encodeResponse({ id, success: true, data: '' }))).toBe('ERR_PROTO_USAGE')
    expect(codeOf(() => encodeRequest({ route: 'a', id, data: '', wantsReply: true }))).toBe('ERR_PROTO_USAGE')
  })

  it('refuses a frame over maxFrameBytes, and accepts one exactly at it', () => {
    const id = '1'.repeat(16)
    const exact = encodeRequest({ route: 'echo', id, data: 'x'.repeat(300), wantsReply: true })
    const max = exact.length
    expect(encodeRequest({ route: 'echo', id, data: 'x'.repeat(300), wantsReply: true }, { maxFrameBytes: max })).toEqual(exact)
    expect(() =>
      encodeRequest({ route: 'echo', id, data: 'x'.repeat(301), wantsReply: true }, { maxFrameBytes: max }),
    ).toThrow(expect.objectContaining({ code: ErrorCode.FRAME_TOO_LARGE, limit: max, size: max + 4 }))
    const response = encodeResponse({ id, success: false, data: 'é'.repeat(50) })
    expect(() => encodeResponse({ id, success: false, data: 'é'.repeat(50) }, { maxFrameBytes: response.length - 1 })).toThrow(
      expect.objectContaining({ code: ErrorCode.FRAME_TOO_LARGE, size: response.length }),
    )
  })
})
