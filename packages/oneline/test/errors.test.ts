import {
  BadLengthError,
  ClosedError,
  FrameTooLargeError,
  IdleTimeoutError,
  InvalidFrameError,
  isProtoError,
  WriteBufferFullError,
} from '@proto/framing'
import { describe, expect, it } from 'vitest'
import {
  ErrorCode,
  OnelineBadPongError,
  OnelineBusyError,
  OnelineClosedError,
  OnelineConnectError,
  OnelineIdleTimeoutError,
  OnelineInvalidLineError,
  OnelineLineTooLongError,
  OnelineUnpromptedError,
  toOnelineError,
} from '../src/errors.ts'

const limits = { maxLineBytes: 100, idleTimeout: 5 }

describe('error classes', () => {
  it.each([
    [new OnelineLineTooLongError(100), 'OnelineLineTooLongError', ErrorCode.LINE_TOO_LONG],
    [new OnelineBusyError('busy'), 'OnelineBusyError', ErrorCode.BUSY],
    [new OnelineIdleTimeoutError(5), 'OnelineIdleTimeoutError', ErrorCode.IDLE_TIMEOUT],
    [new OnelineInvalidLineError(), 'OnelineInvalidLineError', ErrorCode.INVALID_LINE],
    [new OnelineUnpromptedError(), 'OnelineUnpromptedError', ErrorCode.UNPROMPTED],
    [new OnelineBadPongError('no'), 'OnelineBadPongError', ErrorCode.BAD_PONG],
    [new OnelineClosedError(), 'OnelineClosedError', ErrorCode.CLOSED],
    [new OnelineConnectError('h', 1, new Error('refused')), 'OnelineConnectError', ErrorCode.CONNECT],
  ])('%s has its name and code and is a ProtoError', (err, name, code) => {
    expect(err.name).toBe(name)
    expect(err.code).toBe(code)
    expect(code).toMatch(/^ERR_ONELINE_[A-Z_]+$/)
    expect(isProtoError(err)).toBe(true)
    expect(err).toBeInstanceOf(Error)
  })

  it('lists every code once', () => {
    expect(new Set(Object.values(ErrorCode)).size).toBe(Object.keys(ErrorCode).length)
  })
})

describe('toOnelineError (framing §2.7)', () => {
  it.each([
    [new FrameTooLargeError(101, 100), ErrorCode.LINE_TOO_LONG, { limit: 100 }],
    [new BadLengthError(-1), ErrorCode.LINE_TOO_LONG, { limit: 100 }],
    [new InvalidFrameError('bad'), ErrorCode.INVALID_LINE, {}],
    [new IdleTimeoutError(5), ErrorCode.IDLE_TIMEOUT, { timeout: 5 }],
  ])('maps %s to %s with the framing error as cause', (err, code, fields) => {
    const mapped = toOnelineError(err, limits)
    expect(mapped).toMatchObject({ code, ...fields })
    expect(mapped.cause).toBe(err)
  })

  it('maps a failed stream to ERR_ONELINE_CLOSED with the socket error as cause', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
    const mapped = toOnelineError(new ClosedError('stream failed', { cause: reset }), limits)
    expect(mapped).toMatchObject({ code: ErrorCode.CLOSED })
    expect(mapped.cause).toBe(reset)
    expect(toOnelineError(reset, limits)).toMatchObject({ code: ErrorCode.CLOSED, cause: reset })
  })

  it('keeps WriteBufferFullError and oneline errors as they are', () => {
    const full = new WriteBufferFullError(1, 2, 2)
    expect(toOnelineError(full, limits)).toBe(full)
    const busy = new OnelineBusyError('busy')
    expect(toOnelineError(busy, limits)).toBe(busy)
  })
})
