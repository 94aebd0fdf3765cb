import { describe, expect, it } from 'vitest'
import { decodeCommand, encodeLine } from '../src/codec.ts'
import { ErrorCode } from '../src/errors.ts'
import { wire } from './helpers.ts'

/** The command of a request vector: its bytes without the LF. */
const command = (name: string): Buffer => wire(name).subarray(0, -1)

describe('encodeLine', () => {
  it.each([
    ['ping', 'ping_request'],
    ['cmd01', 'origclient_send_cmd01_request'],
    ['shutdown', 'origclient_shutdown_request'],
    ['disconnect', 'disconnect_request'],
    ['', 'empty_line_request'],
    ['a\u0000b\tc', 'nul_and_ctrl_request'],
  ])('writes %j as the bytes of %s', (text, name) => {
    expect(Buffer.from(encodeLine(text))).toEqual(wire(name))
  })

  it('writes UTF-8', () => {
    expect(Buffer.from(encodeLine('héllo'))).toEqual(wire('utf8_multibyte_request'))
  })

  it('refuses a line with LF, which would become two lines', () => {
    expect(() => encodeLine('two\nlines')).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_LINE, name: 'OnelineInvalidLineError', cause: expect.objectContaining({ code: 'ERR_PROTO_INVALID_FRAME' }) }),
    )
  })

  it('has no length limit of its own', () => {
    expect(encodeLine('x'.repeat(1_000_000))).toHaveLength(1_000_001)
  })
})

describe('decodeCommand', () => {
  it.each([
    ['ping_request', 'ping'],
    ['custom_unknown_request', 'hello world'],
    ['empty_line_request', ''],
    ['nul_and_ctrl_request', 'a\u0000b\tc'],
    ['trailing_space_request', 'ping '],
    ['utf8_multibyte_request', 'héllo'],
  ])('decodes %s to %j, valid', (name, text) => {
    expect(decodeCommand(command(name))).toEqual({ text, invalid: false })
  })

  it('replaces an invalid byte with U+FFFD and flags it', () => {
    expect(decodeCommand(command('non_utf8_byte_request'))).toEqual({ text: 'ab\uFFFDcd', invalid: true })
  })

  it('keeps í (C3 AD), which the original dropped', () => {
    expect(decodeCommand(Buffer.from('6162c3ad6364', 'hex'))).toEqual({ text: 'abícd', invalid: false })
  })

  it.each([
    ['c3', '\uFFFD'],
    ['e282', '\uFFFD'],
    ['eda080', '\uFFFD\uFFFD\uFFFD'],
    ['f4908080', '\uFFFD\uFFFD\uFFFD\uFFFD'],
    ['c0af', '\uFFFD\uFFFD'],
    ['61e282e28262', 'a\uFFFD\uFFFDb'],
  ])('replaces the bad sequence %s as the WHATWG decoder does', (hex, text) => {
    expect(decodeCommand(Buffer.from(hex, 'hex'))).toEqual({ text, invalid: true })
  })

  it('keeps a leading byte order mark', () => {
    expect(decodeCommand(Buffer.from('efbbbf61', 'hex'))).toEqual({ text: '\uFEFFa', invalid: false })
    expect(decodeCommand(Buffer.from('efbbbfff', 'hex'))).toEqual({ text: '\uFEFF\uFFFD', invalid: true })
  })

  it('reads a view without looking past it', () => {
    const chunk = Buffer.from('xxpingyy')
    expect(decodeCommand(chunk.subarray(2, 6))).toEqual({ text: 'ping', invalid: false })
    expect(decodeCommand(new Uint8Array(chunk.buffer, chunk.byteOffset + 2, 4))).toEqual({ text: 'ping', invalid: false })
  })
})
