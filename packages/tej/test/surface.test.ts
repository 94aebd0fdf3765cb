import { ClosedError, IdleTimeoutError, TruncatedFrameError, UsageError, isProtoError } from '@proto/framing'
import { describe, expect, it } from 'vitest'
import * as errors from '../src/errors.ts'
import * as api from '../src/index.ts'
import { resolveOptions } from '../src/options.ts'

describe('package surface', () => {
  it('exports the API of the spec', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'DEFAULT_IDLE_TIMEOUT',
        'DEFAULT_MAX_BUFFERED_BYTES',
        'DEFAULT_MAX_CONNECTIONS',
        'DEFAULT_MAX_FILES',
        'DEFAULT_MAX_FILE_BYTES',
        'DEFAULT_MAX_MESSAGE_BYTES',
        'DEFAULT_MAX_NAME_BYTES',
        'DEFAULT_PING_INTERVAL',
        'DEFAULT_PORT',
        'ErrorCode',
        'PING_STATUS',
        'TejBadNameError',
        'TejBadStatusBitError',
        'TejBufferLimitError',
        'TejClosedError',
        'TejConnectError',
        'TejDecoder',
        'TejError',
        'TejFileSizeMismatchError',
        'TejFileTooLargeError',
        'TejIdleTimeoutError',
        'TejInvalidStatusError',
        'TejLimitError',
        'TejMessageTooLargeError',
        'TejNameTooLongError',
        'TejTooManyConnectionsError',
        'TejTooManyFilesError',
        'TejTruncatedError',
        'TejUnsupportedVersionError',
        'connect',
        'createServer',
        'decodeFrame',
        'encodeFrame',
      ].sort(),
    )
    expect([api.DEFAULT_PORT, api.PING_STATUS, api.DEFAULT_IDLE_TIMEOUT, api.DEFAULT_PING_INTERVAL]).toEqual([8000, 2, 0, 0])
  })

  it('gives every error code the ERR_TEJ_ prefix and one class', () => {
    const codes = Object.values(api.ErrorCode)
    expect(codes.every((code) => code.startsWith('ERR_TEJ_'))).toBe(true)
    const samples = [
      new api.TejBadStatusBitError(0x05),
      new api.TejUnsupportedVersionError(2),
      new api.TejInvalidStatusError(128),
      new api.TejTooManyFilesError(2n ** 64n - 1n, 1024),
      new api.TejNameTooLongError(65_535, 4096),
      new api.TejFileTooLargeError(5, 4),
      new api.TejMessageTooLargeError(5, 4),
      new api.TejBufferLimitError(5, 4),
      new api.TejBadNameError(),
      new api.TejTruncatedError(),
      new api.TejIdleTimeoutError(),
      new api.TejFileSizeMismatchError('f', 2, 1),
      new api.TejClosedError(),
      new api.TejConnectError('127.0.0.1', 1),
      new api.TejTooManyConnectionsError(1),
    ]
    expect(samples.map((e) => e.code).sort()).toEqual([...codes].sort())
    for (const err of samples) {
      expect(isProtoError(err)).toBe(true)
      expect(err).toBeInstanceOf(api.TejError)
      expect(err.name).toBe(err.constructor.name)
    }
    expect(samples[3]).toMatchObject({ declared: 2 ** 64, limit: 1024 })
    expect(samples[3]?.message).toContain('18446744073709551615')
  })

  it('rethrows framing errors under TEJ codes, with cause', () => {
    const truncated = new TruncatedFrameError(3, 8)
    expect(errors.toTejError(truncated)).toMatchObject({ code: api.ErrorCode.TRUNCATED, cause: truncated })
    const idle = new IdleTimeoutError(100)
    expect(errors.toTejError(idle)).toMatchObject({ code: api.ErrorCode.IDLE_TIMEOUT, cause: idle })
    const reset = Object.assign(new Error('reset'), { code: 'ECONNRESET' })
    expect(errors.toTejError(new ClosedError('stream failed', { cause: reset }))).toMatchObject({
      code: api.ErrorCode.CLOSED,
      cause: reset,
    })
    const ours = new api.TejBadNameError()
    expect(errors.toTejError(new ClosedError('destroyed', { cause: ours }))).toBe(ours)
    expect(errors.toTejError(new ClosedError('destroyed', { cause: idle }))).toMatchObject({ code: api.ErrorCode.IDLE_TIMEOUT })
    const usage = new UsageError('bad')
    expect(errors.toTejError(usage)).toBe(usage)
    const foreign = new Error('foreign')
    expect(errors.toTejError(foreign)).toBe(foreign)
  })
})

describe('option defaults', () => {
  it('applies the constants when no option is given', () => {
    expect(resolveOptions()).toEqual({
      maxFiles: api.DEFAULT_MAX_FILES,
      maxNameBytes: api.DEFAULT_MAX_NAME_BYTES,
      maxFileBytes: api.DEFAULT_MAX_FILE_BYTES,
      maxMessageBytes: api.DEFAULT_MAX_MESSAGE_BYTES,
      maxBufferedBytes: api.DEFAULT_MAX_BUFFERED_BYTES,
      idleTimeout: 0,
      pingInterval: 0,
    })
  })

  it.each(['maxFiles', 'maxNameBytes', 'maxFileBytes', 'maxMessageBytes', 'maxBufferedBytes', 'idleTimeout', 'pingInterval'])(
    'refuses a %s that is not an integer from 0 to 2^53 - 1',
    (option) => {
      for (const value of [-1, 1.5, 2 ** 53, Number.NaN]) {
        expect(() => resolveOptions({ [option]: value })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
      }
    },
  )
})
