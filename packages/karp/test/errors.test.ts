import { Buffer } from 'node:buffer'
import { ClosedError, FrameTooLargeError, ProtoError, TimeoutError, UsageError, WriteBufferFullError, isProtoError } from '@proto/framing'
import { describe, expect, it } from 'vitest'
import * as api from '../src/index.ts'
import {
  ErrorCode,
  KarpBadBase64Error,
  KarpBadFrameError,
  KarpBadHandlerResultError,
  KarpClosedError,
  KarpConnectError,
  KarpError,
  KarpFrameTooLargeError,
  KarpInvalidRouteError,
  KarpLengthMismatchError,
  KarpIdleTimeoutError,
  KarpListenError,
  KarpProxyHeaderError,
  KarpTimeoutError,
  KarpTlsHandshakeError,
  KarpTooManyConnectionsError,
  KarpTooManyInFlightError,
  KarpUnknownRouteError,
  RemoteError,
  toKarpError,
} from '../src/errors.ts'

const header = { type: 'request', route: 'echo', id: '0000000000000001', wantsReply: true } as const
const netError = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })

const cases: [ProtoError, string, string][] = [
  [new KarpInvalidRouteError('v2'), 'KarpInvalidRouteError', ErrorCode.INVALID_ROUTE],
  [new KarpBadFrameError('no'), 'KarpBadFrameError', ErrorCode.BAD_FRAME],
  [new KarpLengthMismatchError(header, 9, 4), 'KarpLengthMismatchError', ErrorCode.LENGTH_MISMATCH],
  [new KarpBadBase64Error(header, 'bad'), 'KarpBadBase64Error', ErrorCode.BAD_BASE64],
  [new KarpFrameTooLargeError(10, 5), 'KarpFrameTooLargeError', ErrorCode.FRAME_TOO_LARGE],
  [new KarpTooManyInFlightError(3), 'KarpTooManyInFlightError', ErrorCode.TOO_MANY_IN_FLIGHT],
  [new KarpBadHandlerResultError('num', 'number'), 'KarpBadHandlerResultError', ErrorCode.BAD_HANDLER_RESULT],
  [new RemoteError('0000000000000001', Buffer.from('boom')), 'RemoteError', ErrorCode.REMOTE],
  [new KarpUnknownRouteError('nosuch'), 'KarpUnknownRouteError', ErrorCode.UNKNOWN_ROUTE],
  [new KarpClosedError(), 'KarpClosedError', ErrorCode.CLOSED],
  [new KarpIdleTimeoutError(1000), 'KarpIdleTimeoutError', ErrorCode.IDLE_TIMEOUT],
  [new KarpTimeoutError("request 'echo'", 30_000), 'TimeoutError', ErrorCode.TIMEOUT],
  [new KarpConnectError('127.0.0.1:1', { cause: netError }), 'KarpConnectError', ErrorCode.CONNECT],
  [new KarpListenError('127.0.0.1:1', { cause: netError }), 'KarpListenError', ErrorCode.LISTEN],
  [new KarpTooManyConnectionsError(2), 'KarpTooManyConnectionsError', ErrorCode.TOO_MANY_CONNECTIONS],
  [new KarpTlsHandshakeError('TLS handshake failed'), 'KarpTlsHandshakeError', ErrorCode.TLS_HANDSHAKE],
  [new KarpProxyHeaderError('invalid', 'not a PROXY header'), 'KarpProxyHeaderError', ErrorCode.PROXY_HEADER],
]

/** The errors of karp's own protocol extend KarpError; those of connecting, listening and admission, framing's of the same job. */
const PROTOCOL_CODES: string[] = [
  ErrorCode.INVALID_ROUTE,
  ErrorCode.BAD_FRAME,
  ErrorCode.LENGTH_MISMATCH,
  ErrorCode.BAD_BASE64,
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.TOO_MANY_IN_FLIGHT,
  ErrorCode.BAD_HANDLER_RESULT,
  ErrorCode.UNKNOWN_ROUTE,
  ErrorCode.REMOTE,
  ErrorCode.CLOSED,
  ErrorCode.IDLE_TIMEOUT,
]

describe('errors', () => {
  it.each(cases)('%s has its name and code and is a ProtoError', (err, name, code) => {
    expect(err.name).toBe(name)
    expect(err.code).toBe(code)
    expect(code).toMatch(/^ERR_KARP_[A-Z0-9_]+$/)
    expect(err instanceof KarpError).toBe(PROTOCOL_CODES.includes(code))
    expect(err).toBeInstanceOf(ProtoError)
    expect(isProtoError(err)).toBe(true)
    expect(err.message.length).toBeGreaterThan(0)
  })

  it('has one class for every code', () => {
    expect(cases.map(([, , code]) => code).sort()).toEqual(Object.values(ErrorCode).sort())
  })

  it('keeps the foreign error as cause, and what the peer said as message and data', () => {
    expect(new KarpConnectError('h:1', { cause: netError })).toMatchObject({ cause: netError, target: 'h:1', message: 'cannot connect to h:1: connect ECONNREFUSED' })
    const remote = new RemoteError('0000000000000009', Buffer.from('n\u00f6'))
    expect(remote).toMatchObject({ message: 'nö', id: '0000000000000009', data: Buffer.from('nö') })
    expect(new KarpLengthMismatchError(header, 9, 4)).toMatchObject({ id: header.id, header, declared: 9, actual: 4 })
    expect(new KarpBadHandlerResultError('num', 'number').message).toBe(
      "route 'num' returned number; expected string, Uint8Array or undefined",
    )
  })

  it('exports every error class and the code map from the package', () => {
    for (const [err] of cases) expect(Object.values(api)).toContain(err.constructor)
    expect(api.ErrorCode).toBe(ErrorCode)
  })

  it('maps framing errors to karp codes, and keeps usage and write-buffer errors as they are', () => {
    expect(toKarpError(new FrameTooLargeError(100, 63))).toMatchObject({ code: ErrorCode.FRAME_TOO_LARGE, size: 101, limit: 64 })
    expect(toKarpError(new TimeoutError('write', 5))).toMatchObject({ name: 'TimeoutError', code: ErrorCode.TIMEOUT, what: 'write', timeout: 5 })
    expect(toKarpError(new ClosedError('stream failed', { cause: netError }))).toMatchObject({ code: ErrorCode.CLOSED, cause: netError })
    const usage = new UsageError('bad')
    expect(toKarpError(usage)).toBe(usage)
    const full = new WriteBufferFullError(1, 2, 3)
    expect(toKarpError(full)).toBe(full)
  })

  it('marks the unknown-route error as said by the peer, for the command line', () => {
    expect((new KarpUnknownRouteError('x') as unknown as Record<symbol, unknown>)[Symbol.for('@proto/remote-error')]).toBe(true)
  })
})
