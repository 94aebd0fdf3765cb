import { describe, expect, it } from 'vitest'
import {
  BadLengthError,
  ClosedError,
  ConnectError,
  ErrorCode,
  FrameTooLargeError,
  IdleTimeoutError,
  InvalidFrameError,
  ListenError,
  PROTO_ERRORS,
  ProtoError,
  ProxyHeaderError,
  TimeoutError,
  TlsHandshakeError,
  TooManyConnectionsError,
  TruncatedFrameError,
  UsageError,
  WriteBufferFullError,
  isProtoError,
} from '../src/errors.ts'
import { checkLimit } from '../src/options.ts'

describe('errors', () => {
  const cause = new Error('underneath')
  it.each([
    [new ProtoError('m', { cause }), 'ProtoError', 'ERR_PROTO'],
    [new FrameTooLargeError(11, 10, { cause }), 'FrameTooLargeError', 'ERR_PROTO_FRAME_TOO_LARGE'],
    [new TruncatedFrameError(3, 8, { cause }), 'TruncatedFrameError', 'ERR_PROTO_TRUNCATED_FRAME'],
    [new BadLengthError(-1, { cause }), 'BadLengthError', 'ERR_PROTO_BAD_LENGTH'],
    [new InvalidFrameError('m', { cause }), 'InvalidFrameError', 'ERR_PROTO_INVALID_FRAME'],
    [new IdleTimeoutError(5, { cause }), 'IdleTimeoutError', 'ERR_PROTO_IDLE_TIMEOUT'],
    [new ClosedError('m', { cause }), 'ClosedError', 'ERR_PROTO_CLOSED'],
    [new WriteBufferFullError(1, 2, 2, { cause }), 'WriteBufferFullError', 'ERR_PROTO_WRITE_BUFFER_FULL'],
    [new UsageError('m', { cause }), 'UsageError', 'ERR_PROTO_USAGE'],
    [new ProxyHeaderError('invalid', 'm', { cause }), 'ProxyHeaderError', 'ERR_PROTO_PROXY_HEADER'],
    [new TimeoutError('request', 5, { cause }), 'TimeoutError', 'ERR_PROTO_TIMEOUT'],
    [new ConnectError('127.0.0.1:1', { cause }), 'ConnectError', 'ERR_PROTO_CONNECT'],
    [new ListenError('127.0.0.1:1', { cause }), 'ListenError', 'ERR_PROTO_LISTEN'],
    [Object.assign(new TooManyConnectionsError(1), { cause }), 'TooManyConnectionsError', 'ERR_PROTO_TOO_MANY_CONNECTIONS'],
    [new TlsHandshakeError('m', { cause }), 'TlsHandshakeError', 'ERR_PROTO_TLS_HANDSHAKE'],
  ])('%s has its name, code and cause', (err, name, code) => {
    expect(err).toBeInstanceOf(ProtoError)
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe(name)
    expect(err.code).toBe(code)
    expect(err.cause).toBe(cause)
    expect(isProtoError(err)).toBe(true)
    expect(String(err)).toContain(name)
  })

  it('maps every code in ErrorCode', () => {
    expect(ErrorCode).toEqual({
      FRAME_TOO_LARGE: 'ERR_PROTO_FRAME_TOO_LARGE',
      TRUNCATED_FRAME: 'ERR_PROTO_TRUNCATED_FRAME',
      BAD_LENGTH: 'ERR_PROTO_BAD_LENGTH',
      INVALID_FRAME: 'ERR_PROTO_INVALID_FRAME',
      IDLE_TIMEOUT: 'ERR_PROTO_IDLE_TIMEOUT',
      CLOSED: 'ERR_PROTO_CLOSED',
      WRITE_BUFFER_FULL: 'ERR_PROTO_WRITE_BUFFER_FULL',
      USAGE: 'ERR_PROTO_USAGE',
      PROXY_HEADER: 'ERR_PROTO_PROXY_HEADER',
      TIMEOUT: 'ERR_PROTO_TIMEOUT',
      CONNECT: 'ERR_PROTO_CONNECT',
      LISTEN: 'ERR_PROTO_LISTEN',
      TOO_MANY_CONNECTIONS: 'ERR_PROTO_TOO_MANY_CONNECTIONS',
      TLS_HANDSHAKE: 'ERR_PROTO_TLS_HANDSHAKE',
    })
  })

  it('carries the fields of each failure', () => {
    expect(new FrameTooLargeError(11, 10)).toMatchObject({ size: 11, limit: 10 })
    expect(new TruncatedFrameError(3, 8)).toMatchObject({ received: 3, expected: 8 })
    expect(new TruncatedFrameError(3).expected).toBeUndefined()
    expect(new BadLengthError(2n ** 60n).value).toBe(2n ** 60n)
    expect(new IdleTimeoutError(5).timeout).toBe(5)
    expect(new WriteBufferFullError(1, 2, 2)).toMatchObject({ buffered: 1, size: 2, limit: 2 })
    expect(new TimeoutError("request 'echo'", 30_000)).toMatchObject({
      what: "request 'echo'",
      timeout: 30_000,
      message: "request 'echo' timed out after 30000 ms",
    })
    expect(new ProxyHeaderError('timeout', 'late')).toMatchObject({ reason: 'timeout', message: 'late' })
    expect(new ConnectError('[::1]:7755').target).toBe('[::1]:7755')
    expect(new ListenError('/tmp/x.sock').address).toBe('/tmp/x.sock')
    expect(new TooManyConnectionsError(3)).toMatchObject({ limit: 3, message: 'server is at maxConnections (3)' })
  })

  it('appends the message of the cause to connect and listen failures', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7755'), { code: 'ECONNREFUSED' })
    expect(new ConnectError('127.0.0.1:7755', { cause: refused }).message).toBe(
      'cannot connect to 127.0.0.1:7755: connect ECONNREFUSED 127.0.0.1:7755',
    )
    expect(new ListenError('127.0.0.1:7755', { cause: new Error('listen EADDRINUSE') }).message).toBe(
      'cannot listen on 127.0.0.1:7755: listen EADDRINUSE',
    )
    expect(new ConnectError('127.0.0.1:7755', { cause: 'not an Error' }).message).toBe('cannot connect to 127.0.0.1:7755')
    expect(new ListenError('/x.sock').message).toBe('cannot listen on /x.sock')
  })

  it('keeps the name TimeoutError in a subclass that sets only its code', () => {
    class KarpTimeoutError extends TimeoutError {
      override readonly code = 'ERR_KARP_TIMEOUT'
    }
    const err = new KarpTimeoutError('connect to 127.0.0.1:7755', 30_000, { cause })
    expect(err).toMatchObject({ name: 'TimeoutError', code: 'ERR_KARP_TIMEOUT', what: 'connect to 127.0.0.1:7755', cause })
    expect(err).toBeInstanceOf(TimeoutError)
    expect(isProtoError(err)).toBe(true)
  })

  it('lets a package bundle its subclasses as PlumbingErrors', () => {
    class KarpConnectError extends ConnectError {
      override name = 'KarpConnectError'
      override readonly code = 'ERR_KARP_CONNECT'
    }
    const errors = { ...PROTO_ERRORS, Connect: KarpConnectError }
    const err = new errors.Connect('127.0.0.1:7755', { cause })
    expect(err).toMatchObject({ name: 'KarpConnectError', code: 'ERR_KARP_CONNECT', target: '127.0.0.1:7755' })
    expect(new PROTO_ERRORS.Timeout('x', 1).code).toBe('ERR_PROTO_TIMEOUT')
    class KarpProxyHeaderError extends ProxyHeaderError {
      override name = 'KarpProxyHeaderError'
      override readonly code = 'ERR_KARP_PROXY_HEADER'
    }
    const withProxy = { ...PROTO_ERRORS, ProxyHeader: KarpProxyHeaderError }
    expect(new withProxy.ProxyHeader('too-large', 'big')).toMatchObject({ code: 'ERR_KARP_PROXY_HEADER', reason: 'too-large' })
    expect(new PROTO_ERRORS.ProxyHeader('invalid', 'x').code).toBe('ERR_PROTO_PROXY_HEADER')
  })

  it('recognises errors of another installed copy by their brand, not their class', () => {
    const foreign = Object.create(
      Object.create(Error.prototype, { [Symbol.for('@proto/error')]: { value: true } }) as object,
    ) as object
    expect(isProtoError(foreign)).toBe(true)
    expect(foreign instanceof ProtoError).toBe(false)
    for (const value of [new Error('x'), { code: 'ERR_PROTO' }, null, undefined, 'ERR_PROTO', 1]) {
      expect(isProtoError(value)).toBe(false)
    }
  })

  it('lets subclasses in other packages narrow the code', () => {
    class KarpError extends ProtoError {
      override name = 'KarpError'
      override readonly code: string = 'ERR_KARP'
    }
    const err = new KarpError('x')
    expect(isProtoError(err)).toBe(true)
    expect(err.code).toBe('ERR_KARP')
  })
})

describe('checkLimit', () => {
  it('falls back to the default and accepts integers from min to 2^53 - 1', () => {
    expect(checkLimit('n', undefined, 7)).toBe(7)
    expect(checkLimit('n', 1, 7)).toBe(1)
    expect(checkLimit('n', 0, 7, 0)).toBe(0)
    expect(checkLimit('n', Number.MAX_SAFE_INTEGER, 7)).toBe(Number.MAX_SAFE_INTEGER)
  })

  it.each([0, -1, 1.5, Number.NaN, Infinity, 2 ** 53])('refuses %s with ERR_PROTO_USAGE naming the option', (value) => {
    expect(() => checkLimit('maxThings', value, 7)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => checkLimit('maxThings', value, 7)).toThrow(/maxThings/)
  })

  it('refuses a bad fallback as well', () => {
    expect(() => checkLimit('n', undefined, Infinity)).toThrow(UsageError)
  })
})
