import {
  ClosedError,
  FrameTooLargeError,
  IdleTimeoutError,
  InvalidFrameError,
  isProtoError,
  TruncatedFrameError,
  UsageError,
  WriteBufferFullError,
} from '@proto/framing'
import { describe, expect, it } from 'vitest'
import {
  ErrorCode,
  ONELINE_ERRORS,
  OnelineBadPongError,
  OnelineBusyError,
  OnelineClosedError,
  OnelineConnectError,
  OnelineIdleTimeoutError,
  OnelineInvalidLineError,
  OnelineLineTooLongError,
  OnelineListenError,
  OnelineProxyHeaderError,
  OnelineTimeoutError,
  OnelineTlsHandshakeError,
  OnelineTooManyConnectionsError,
  OnelineUnpromptedError,
  toOnelineError,
} from '../src/errors.ts'

describe('error classes', () => {
  it.each([
    [new OnelineLineTooLongError(100), 'OnelineLineTooLongError', ErrorCode.LINE_TOO_LONG],
    [new OnelineBusyError('busy'), 'OnelineBusyError', ErrorCode.BUSY],
    [new OnelineIdleTimeoutError(5), 'OnelineIdleTimeoutError', ErrorCode.IDLE_TIMEOUT],
    [new OnelineInvalidLineError(), 'OnelineInvalidLineError', ErrorCode.INVALID_LINE],
    [new OnelineUnpromptedError(), 'OnelineUnpromptedError', ErrorCode.UNPROMPTED],
    [new OnelineBadPongError('no'), 'OnelineBadPongError', ErrorCode.BAD_PONG],
    [new OnelineClosedError(), 'OnelineClosedError', ErrorCode.CLOSED],
    [new OnelineTimeoutError('request', 5), 'TimeoutError', ErrorCode.TIMEOUT],
    [new OnelineConnectError('h:1', { cause: new Error('refused') }), 'OnelineConnectError', ErrorCode.CONNECT],
    [new OnelineListenError('h:1'), 'OnelineListenError', ErrorCode.LISTEN],
    [new OnelineTooManyConnectionsError(3), 'OnelineTooManyConnectionsError', ErrorCode.TOO_MANY_CONNECTIONS],
    [new OnelineTlsHandshakeError('bad'), 'OnelineTlsHandshakeError', ErrorCode.TLS_HANDSHAKE],
    [new OnelineProxyHeaderError('invalid', 'bad'), 'OnelineProxyHeaderError', ErrorCode.PROXY_HEADER],
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

  it('makes framing’s plumbing errors with the oneline codes', () => {
    expect(new ONELINE_ERRORS.Timeout('connect to 127.0.0.1:5001', 30_000)).toMatchObject({
      name: 'TimeoutError',
      code: ErrorCode.TIMEOUT,
      message: 'connect to 127.0.0.1:5001 timed out after 30000 ms',
    })
    expect(new ONELINE_ERRORS.Connect('127.0.0.1:5001', { cause: new Error('connect ECONNREFUSED') })).toMatchObject({
      code: ErrorCode.CONNECT,
      message: 'cannot connect to 127.0.0.1:5001: connect ECONNREFUSED',
    })
    expect(new ONELINE_ERRORS.Listen('127.0.0.1:5001')).toMatchObject({ code: ErrorCode.LISTEN })
    expect(new ONELINE_ERRORS.TooManyConnections(2)).toMatchObject({ code: ErrorCode.TOO_MANY_CONNECTIONS, limit: 2 })
    expect(new ONELINE_ERRORS.TlsHandshake('no')).toMatchObject({ code: ErrorCode.TLS_HANDSHAKE })
    expect(new ONELINE_ERRORS.ProxyHeader('timeout', 'late')).toMatchObject({ code: ErrorCode.PROXY_HEADER, reason: 'timeout' })
  })
})

describe('peer text in messages', () => {
  const hostile = '\u001b]0;pwned\u0007 \u001b[2J \u009b31m'

  it('escapes the line a server sent in place of pong, and keeps it exact in `line`', () => {
    const err = new OnelineBadPongError(hostile)
    expect(err.message).toBe(String.raw`expected pong, got '\x1b]0;pwned\x07 \x1b[2J \u009b31m'`)
    expect(err.line).toBe(hostile)
  })

  it('escapes what a PROXY header error quotes of the bytes a peer sent', () => {
    const err = new OnelineProxyHeaderError('invalid', `the PROXY v1 protocol is "${hostile}"`)
    expect(err.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/)
    expect(err.message).toContain(String.raw`\x1b[2J`)
  })
})

describe('toOnelineError (framing §2.7)', () => {
  it.each([
    [new FrameTooLargeError(101, 100), ErrorCode.LINE_TOO_LONG, { limit: 100 }],
    [new InvalidFrameError('bad'), ErrorCode.INVALID_LINE, {}],
    [new IdleTimeoutError(5), ErrorCode.IDLE_TIMEOUT, { timeout: 5 }],
    [new TruncatedFrameError(4), ErrorCode.CLOSED, { message: 'input ended inside a frame after 4 bytes' }],
  ])('maps %s to %s with the framing error as cause', (err, code, fields) => {
    const mapped = toOnelineError(err)
    expect(mapped).toMatchObject({ code, ...fields })
    expect(mapped.cause).toBe(err)
  })

  it('maps a failed stream to ERR_ONELINE_CLOSED with the socket error as cause', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
    const mapped = toOnelineError(new ClosedError('stream failed', { cause: reset }))
    expect(mapped).toMatchObject({ code: ErrorCode.CLOSED, message: 'stream failed' })
    expect(mapped.cause).toBe(reset)
    expect(toOnelineError(reset)).toMatchObject({ code: ErrorCode.CLOSED, cause: reset })
  })

  it('keeps WriteBufferFullError, UsageError and oneline errors as they are', () => {
    const full = new WriteBufferFullError(1, 2, 2)
    expect(toOnelineError(full)).toBe(full)
    const usage = new UsageError('bad option')
    expect(toOnelineError(usage)).toBe(usage)
    const busy = new OnelineBusyError('busy')
    expect(toOnelineError(busy)).toBe(busy)
    const timeout = new OnelineTimeoutError('request', 1)
    expect(toOnelineError(timeout)).toBe(timeout)
  })
})
