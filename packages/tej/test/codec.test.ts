import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import { TejDecoder, decodeFrame, encodeFrame } from '../src/codec.ts'
import type { TejDecodeEvent, TejFrame } from '../src/types.ts'
import {
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_FILES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_NAME_BYTES,
} from '../src/constants.ts'
import { ErrorCode } from '../src/errors.ts'
import { frameHead, hex, meaning, u16, u64, wire } from './helpers.ts'

const roundTrip = [
  'tej_message_only/client/0',
  'tej_message_only/server/0',
  'tej_one_file/server/0',
  'tej_several_files_and_message/client/0',
  'tej_empty_frame/client/0',
  'tej_empty_frame/server/0',
  'tej_empty_message_bytes/server/0',
  'tej_custom_status_0_explicit/client/0',
  'tej_custom_status_5/client/0',
  'tej_custom_status_5/server/0',
  'tej_custom_status_127/server/0',
  'tej_custom_status_2_ping/client/0',
  'tej_unicode_message/client/0',
  'tej_unicode_message/server/0',
  'tej_empty_filename/server/0',
  'tej_large_file_100000/server/0',
  'tej_two_frames_back_to_back/client/0',
  'tej_two_frames_back_to_back/server/0',
  'tej_two_frames_back_to_back/server/1',
  'tej_raw_byte_by_byte/server/0',
  'tej_ping_frame_from_Ping_class/client/0',
]

interface FileMeaning {
  name: string
  data_length_field: number
  data_text?: string
}

/** All events of `bytes` pushed in chunks of `size`. */
function decodeInChunks(bytes: Uint8Array, size: number, decoder = new TejDecoder()): TejDecodeEvent[] {
  const events: TejDecodeEvent[] = []
  for (let offset = 0; offset < bytes.length; offset += size) events.push(...decoder.push(bytes.subarray(offset, offset + size)))
  events.push(...decoder.end())
  return events
}

/** Frames rebuilt from decoder events. */
function framesOf(events: TejDecodeEvent[]): TejFrame[] {
  const frames: TejFrame[] = []
  let files: { name: string; pieces: Uint8Array[] }[] = []
  let status = 0
  for (const event of events) {
    switch (event.type) {
      case 'frame':
        status = event.status
        files = []
        break
      case 'file':
        files.push({ name: event.name, pieces: [] })
        break
      case 'data':
        files.at(-1)?.pieces.push(Buffer.from(event.chunk))
        break
      case 'message':
        frames.push({
          status,
          files: files.map((f) => ({ name: f.name, data: Buffer.concat(f.pieces) })),
          message: Buffer.from(event.data),
        })
        break
    }
  }
  return frames
}

/** The code of the fault `bytes` leads to: thrown at once, or kept behind the events before it. */
function faultOf(bytes: Uint8Array, decoder = new TejDecoder()): unknown {
  try {
    decoder.push(bytes)
  } catch (err) {
    return (err as { code?: unknown }).code
  }
  return decoder.error?.code ?? expect.unreachable('no fault')
}

function codeOf(run: () => unknown): unknown {
  try {
    run()
  } catch (err) {
    return (err as { code?: unknown }).code
  }
  return expect.unreachable('no error thrown')
}

describe('byte-exact round trip with the original', () => {
  it.each(roundTrip)('%s decodes to what the original meant and re-encodes to the same bytes', (name) => {
    const bytes = wire(name)
    const { frame, bytesRead } = decodeFrame(bytes)
    expect(bytesRead).toBe(bytes.length)
    const m = meaning(name)
    expect(frame.status).toBe(m.custom_status)
    expect(Buffer.from(frame.message).toString('utf8')).toBe(m.message_text)
    const files = m.files as FileMeaning[]
    expect(frame.files.map((f) => f.name)).toEqual(files.map((f) => f.name))
    expect(frame.files.map((f) => f.data.length)).toEqual(files.map((f) => f.data_length_field))
    for (const [i, f] of files.entries()) {
      if (f.data_text !== undefined) expect(Buffer.from(frame.files[i]?.data ?? []).toString('utf8')).toBe(f.data_text)
    }
    expect(hex(encodeFrame(frame))).toBe(hex(bytes))
  })

  it('decodes two frames from one buffer (tej_two_frames_back_to_back)', () => {
    const both = Buffer.concat([wire('tej_two_frames_back_to_back/server/0'), wire('tej_two_frames_back_to_back/server/1')])
    const first = decodeFrame(both)
    expect(first.bytesRead).toBe(wire('tej_two_frames_back_to_back/server/0').length)
    const second = decodeFrame(both.subarray(first.bytesRead))
    expect(second.bytesRead).toBe(both.length - first.bytesRead)
    expect(Buffer.from(first.frame.message).toString()).toBe('first')
    expect(second.frame).toMatchObject({ status: 7, files: [{ name: 'f' }] })
    expect(Buffer.from(second.frame.message).toString()).toBe('second')
    expect(Buffer.from(encodeFrame(first.frame))).toEqual(both.subarray(0, first.bytesRead))
    expect(Buffer.from(encodeFrame(second.frame))).toEqual(both.subarray(first.bytesRead))
  })

  it('reassembles tej_raw_byte_by_byte pushed one byte at a time', () => {
    const bytes = wire('tej_raw_byte_by_byte/server/0')
    const frames = framesOf(decodeInChunks(bytes, 1))
    expect(frames).toHaveLength(1)
    expect(frames[0]).toMatchObject({ status: 9, files: [{ name: 'frag.txt' }] })
    expect(Buffer.from(frames[0]?.files[0]?.data ?? []).toString()).toBe('fragmented')
    expect(Buffer.from(frames[0]?.message ?? []).toString()).toBe('slow')
    expect(Buffer.from(encodeFrame(frames[0] ?? expect.unreachable()))).toEqual(bytes)
  })

  it('encodes the empty ping exactly as the Ping helper sends it', () => {
    expect(Buffer.from(encodeFrame({ status: 2, files: [], message: new Uint8Array() }))).toEqual(
      wire('tej_ping_frame_from_Ping_class/client/0'),
    )
  })

  it('gives an empty message where the original gives None (tej_one_file, tej_empty_message_bytes)', () => {
    for (const name of ['tej_one_file/server/0', 'tej_empty_message_bytes/server/0']) {
      expect(meaning(name).python_receiver_gets_message).toBeNull()
      expect(decodeFrame(wire(name)).frame.message).toHaveLength(0)
    }
  })
})

describe('status', () => {
  it.each([
    ['tej_custom_status_128_overflow/server/0', 0],
    ['tej_custom_status_200_overflow/client/0', 72],
  ])('decodes %s to the low 7 bits and re-encodes it to the same bytes', (name, status) => {
    const bytes = wire(name)
    const { frame } = decodeFrame(bytes)
    expect(frame.status).toBe(status)
    expect(Buffer.from(encodeFrame(frame))).toEqual(bytes)
  })

  it.each([128, 200, 300, -1, 2.5, Number.NaN])('refuses to encode status %s', (status) => {
    expect(codeOf(() => encodeFrame({ status, files: [], message: new Uint8Array() }))).toBe(ErrorCode.INVALID_STATUS)
  })

  it('rejects a status byte without bit 7 (tej_raw_invalid_status_bit)', () => {
    expect(codeOf(() => decodeFrame(wire('tej_raw_invalid_status_bit/client/0')))).toBe(ErrorCode.BAD_STATUS_BIT)
    expect(codeOf(() => new TejDecoder().push(wire('tej_raw_invalid_status_bit/client/0').subarray(0, 1)))).toBe(
      ErrorCode.BAD_STATUS_BIT,
    )
  })
})

describe('rejections', () => {
  it.each([
    ['tej_protocol_version_0/client/0', 0],
    ['tej_protocol_version_2/server/0', 2],
    ['tej_protocol_version_255/client/0', 255],
    ['tej_protocol_version_255/server/0', 255],
  ])('rejects %s with ERR_TEJ_UNSUPPORTED_VERSION', (name, version) => {
    const decoder = new TejDecoder()
    let error: unknown
    try {
      decoder.push(wire(name))
    } catch (err) {
      error = err
    }
    expect(error).toMatchObject({ code: ErrorCode.UNSUPPORTED_VERSION, version, name: 'TejUnsupportedVersionError' })
    expect(decoder.error).toBe(error)
  })

  it.each(['tej_nonascii_filename_e_acute/client/0', 'tej_nonascii_filename_cjk/client/0'])(
    'rejects %s (misread length beyond 2^53) with ERR_TEJ_FILE_TOO_LARGE and holds nothing',
    (name) => {
      const decoder = new TejDecoder()
      const events: TejDecodeEvent[] = []
      let error: unknown
      try {
        for (const byte of wire(name)) events.push(...decoder.push(Uint8Array.of(byte)))
      } catch (err) {
        error = err
      }
      expect(error).toMatchObject({ code: ErrorCode.FILE_TOO_LARGE })
      expect((error as { declared: number }).declared).toBeGreaterThan(Number.MAX_SAFE_INTEGER)
      expect(events).toEqual([{ type: 'frame', status: 0, fileCount: 1 }])
      expect(decoder.buffered).toBe(0)
    },
  )

  it('reports a truncated frame at the end of input (tej_raw_truncated_frame)', () => {
    const decoder = new TejDecoder()
    expect(decoder.push(wire('tej_raw_truncated_frame/client/0'))).toEqual([{ type: 'frame', status: 9, fileCount: 1 }])
    expect(codeOf(() => decoder.end())).toBe(ErrorCode.TRUNCATED)
    expect(codeOf(() => decodeFrame(wire('tej_raw_truncated_frame/client/0')))).toBe(ErrorCode.TRUNCATED)
  })

  it('ends cleanly between frames', () => {
    const decoder = new TejDecoder()
    decoder.push(wire('tej_message_only/client/0'))
    expect(decoder.end()).toEqual([])
  })

  it('returns the events before a fault, then throws it from then on', () => {
    const decoder = new TejDecoder()
    const bytes = Buffer.concat([wire('tej_message_only/client/0'), wire('tej_protocol_version_2/server/0')])
    const events = decoder.push(bytes)
    expect(events.map((e) => e.type)).toEqual(['frame', 'message'])
    expect(decoder.error?.code).toBe(ErrorCode.UNSUPPORTED_VERSION)
    expect(codeOf(() => decoder.push(wire('tej_message_only/client/0')))).toBe(ErrorCode.UNSUPPORTED_VERSION)
    expect(codeOf(() => decoder.end())).toBe(ErrorCode.UNSUPPORTED_VERSION)
  })
})

describe('file names', () => {
  it('writes the UTF-8 byte count of é.txt, unlike the original', () => {
    const bytes = encodeFrame({ status: 0, files: [{ name: 'é.txt', data: Buffer.from('data') }], message: Buffer.from('after') })
    expect(Buffer.from(bytes).toString('hex')).toBe(
      '8001' + '0000000000000001' + '0006' + 'c3a92e747874' + '0000000000000004' + '64617461' + '0000000000000005' + '6166746572',
    )
    expect(meaning('tej_nonascii_filename_e_acute/client/0').encoder_input).toMatchObject({ name_length_field_written: 5 })
    const { frame } = decodeFrame(bytes)
    expect(frame.files[0]?.name).toBe('é.txt')
    expect(Buffer.from(frame.message).toString()).toBe('after')
  })

  it('round-trips 日本.txt, which the original cannot', () => {
    const frame = { status: 0, files: [{ name: '日本.txt', data: Buffer.from('data') }], message: Buffer.from('after') }
    const bytes = encodeFrame(frame)
    expect(Buffer.from(bytes).readUInt16BE(10)).toBe(10)
    expect(decodeFrame(bytes).frame).toEqual(frame)
  })

  it('rejects a name that is not UTF-8 with ERR_TEJ_BAD_NAME', () => {
    const bytes = Buffer.from(encodeFrame({ status: 0, files: [{ name: 'ab', data: Buffer.alloc(0) }], message: Buffer.alloc(0) }))
    bytes[12] = 0xff
    expect(codeOf(() => decodeFrame(bytes))).toBe(ErrorCode.BAD_NAME)
  })

  it('keeps a leading byte order mark, path separators and NUL as data', () => {
    for (const name of ['\uFEFFbom', '../../etc/passwd', '/abs/path', 'nul\u0000byte', '']) {
      const frame = { status: 1, files: [{ name, data: Buffer.from('x') }], message: Buffer.alloc(0) }
      expect(decodeFrame(encodeFrame(frame)).frame.files[0]?.name).toBe(name)
    }
  })

  it('encodes names up to 65 535 UTF-8 bytes and refuses longer ones', () => {
    const longest = 'n'.repeat(65_535)
    const bytes = encodeFrame({ status: 0, files: [{ name: longest, data: Buffer.alloc(0) }], message: Buffer.alloc(0) })
    expect(decodeFrame(bytes, { maxNameBytes: 65_535 }).frame.files[0]?.name).toBe(longest)
    expect(codeOf(() => encodeFrame({ status: 0, files: [{ name: 'é'.repeat(32_768), data: Buffer.alloc(0) }], message: Buffer.alloc(0) }))).toBe(
      'ERR_PROTO_USAGE',
    )
  })
})

describe('limits', () => {
  const head = frameHead
  const oneFile = (name: Buffer, size: bigint): Buffer => Buffer.concat([head(1n), u16(name.length), name, u64(size)])
  const message = (length: bigint): Buffer => Buffer.concat([head(0n), u64(length)])

  it('has the spec defaults', () => {
    expect([DEFAULT_MAX_FILES, DEFAULT_MAX_NAME_BYTES, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_MESSAGE_BYTES]).toEqual([
      1024,
      4096,
      2 ** 53 - 1,
      16 * 1024 * 1024,
    ])
  })

  it.each([
    ['maxFiles', (n: number) => head(BigInt(n)), DEFAULT_MAX_FILES, ErrorCode.TOO_MANY_FILES],
    ['maxNameBytes', (n: number) => Buffer.concat([head(1n), u16(n)]), DEFAULT_MAX_NAME_BYTES, ErrorCode.NAME_TOO_LONG],
    ['maxFileBytes', (n: number) => oneFile(Buffer.from('f'), BigInt(n)), DEFAULT_MAX_FILE_BYTES, ErrorCode.FILE_TOO_LARGE],
    ['maxMessageBytes', (n: number) => message(BigInt(n)), DEFAULT_MAX_MESSAGE_BYTES, ErrorCode.MESSAGE_TOO_LARGE],
  ] as const)('%s: the default passes, one more fails before anything is held', (_option, build, limit, code) => {
    expect(() => new TejDecoder().push(build(limit))).not.toThrow()
    const decoder = new TejDecoder()
    expect(faultOf(build(limit + 1), decoder)).toBe(code)
    expect(decoder.buffered).toBe(0)
  })

  it.each([
    ['maxFiles', (n: number) => head(BigInt(n)), ErrorCode.TOO_MANY_FILES],
    ['maxNameBytes', (n: number) => Buffer.concat([head(1n), u16(n)]), ErrorCode.NAME_TOO_LONG],
    ['maxFileBytes', (n: number) => oneFile(Buffer.from('f'), BigInt(n)), ErrorCode.FILE_TOO_LARGE],
    ['maxMessageBytes', (n: number) => message(BigInt(n)), ErrorCode.MESSAGE_TOO_LARGE],
  ] as const)('%s set to 3: 3 passes, 4 fails', (option, build, code) => {
    expect(() => new TejDecoder({ [option]: 3 }).push(build(3))).not.toThrow()
    expect(faultOf(build(4), new TejDecoder({ [option]: 3 }))).toBe(code)
  })

  it.each([
    ['file count', head(2n ** 64n - 1n), ErrorCode.TOO_MANY_FILES],
    ['data length', oneFile(Buffer.from('f'), 2n ** 64n - 1n), ErrorCode.FILE_TOO_LARGE],
    ['message length', message(2n ** 64n - 1n), ErrorCode.MESSAGE_TOO_LARGE],
    ['name length', Buffer.concat([head(1n), u16(65_535)]), ErrorCode.NAME_TOO_LONG],
  ])('a hostile %s fails with its code', (_field, bytes, code) => {
    expect(faultOf(bytes)).toBe(code)
  })

  it('streams file data as views without holding it', () => {
    const data = Buffer.alloc(100_000, 7)
    const bytes = encodeFrame({ status: 0, files: [{ name: 'big', data }], message: Buffer.alloc(0) })
    const decoder = new TejDecoder()
    const first = decoder.push(bytes.subarray(0, 60_000))
    expect(decoder.buffered).toBe(0)
    expect(first.filter((e) => e.type === 'data').reduce((n, e) => n + (e.type === 'data' ? e.chunk.length : 0), 0)).toBe(
      60_000 - 10 - 2 - 3 - 8,
    )
  })

  it('rejects limit options that are not integers in range', () => {
    expect(codeOf(() => new TejDecoder({ maxFiles: -1 }))).toBe('ERR_PROTO_USAGE')
    expect(codeOf(() => new TejDecoder({ maxMessageBytes: 1.5 }))).toBe('ERR_PROTO_USAGE')
    expect(codeOf(() => decodeFrame(wire('tej_empty_frame/client/0'), { maxFileBytes: 2 ** 53 }))).toBe('ERR_PROTO_USAGE')
  })
})
