import { ClosedError, ConnectError, IdleTimeoutError, ListenError, ProxyHeaderError, TimeoutError, TlsHandshakeError, TooManyConnectionsError, TruncatedFrameError, UsageError, isProtoError } from '@proto/framing'
import { describe, expect, it } from 'vitest'
import * as errors from '../src/errors.ts'
import * as api from '../src/index.ts'
import { resolveConnectOptions, resolveLimits, resolveServerOptions } from '../src/limits.ts'

describe('package surface', () => {
  it('exports the API of the spec', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'DEFAULT_CONNECT_TIMEOUT',
        'DEFAULT_HANDSHAKE_TIMEOUT',
        'DEFAULT_IDLE_TIMEOUT',
        'DEFAULT_MAX_BUFFERED_BYTES',
        'DEFAULT_MAX_CONNECTIONS',
        'DEFAULT_MAX_FILES',
        'DEFAULT_MAX_FILE_BYTES',
        'DEFAULT_MAX_MESSAGE_BYTES',
        'DEFAULT_MAX_NAME_BYTES',
        'DEFAULT_PING_INTERVAL',
        'DEFAULT_PORT',
        'DEFAULT_STALL_TIMEOUT',
        'DEFAULT_TIMEOUT',
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
        'TejListenError',
        'TejMessageTooLargeError',
        'TejNameTooLongError',
        'TejProxyHeaderError',
        'TejStallTimeoutError',
        'TejTimeoutError',
        'TejTlsHandshakeError',
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
    expect([api.DEFAULT_CONNECT_TIMEOUT, api.DEFAULT_HANDSHAKE_TIMEOUT, api.DEFAULT_TIMEOUT]).toEqual([30_000, 10_000, Number.POSITIVE_INFINITY])
    expect(api.DEFAULT_STALL_TIMEOUT).toBe(30_000)
  })

  it('gives every error code the ERR_TEJ_ prefix and one class', () => {
    const codes = Object.values(api.ErrorCode)
    expect(codes.every((code) => code.startsWith('ERR_TEJ_'))).toBe(true)
    const protocol = [
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
      new api.TejIdleTimeoutError(100),
      new api.TejStallTimeoutError(100),
      new api.TejFileSizeMismatchError('f', 2, 1),
      new api.TejClosedError(),
    ]
    const plumbing = [
      [new api.TejTimeoutError('sending a frame with status 0', 5), TimeoutError],
      [new api.TejConnectError('127.0.0.1:1'), ConnectError],
      [new api.TejListenError('127.0.0.1:1'), ListenError],
      [new api.TejTooManyConnectionsError(1), TooManyConnectionsError],
      [new api.TejTlsHandshakeError('TLS handshake failed'), TlsHandshakeError],
      [new api.TejProxyHeaderError('invalid', 'not a PROXY header'), ProxyHeaderError],
    ] as const
    expect([...protocol, ...plumbing.map(([err]) => err)].map((e) => e.code).sort()).toEqual([...codes].sort())
    for (const err of protocol) {
      expect(isProtoError(err)).toBe(true)
      expect(err).toBeInstanceOf(api.TejError)
      expect(err.name).toBe(err.constructor.name)
    }
    // The plumbing errors keep framing's fields, so they extend its classes rather than TejError.
    for (const [err, base] of plumbing) {
      expect(isProtoError(err)).toBe(true)
      expect(err).toBeInstanceOf(base)
      expect(err.name).toBe(base === TimeoutError ? 'TimeoutError' : err.constructor.name)
    }
    expect(plumbing[0][0]).toMatchObject({ what: 'sending a frame with status 0', timeout: 5, message: 'sending a frame with status 0 timed out after 5 ms' })
    expect(protocol[3]).toMatchObject({ declared: 2 ** 64, limit: 1024 })
    expect(protocol[3]?.message).toContain('18446744073709551615')
  })

  it('rethrows framing errors under TEJ codes, with cause', () => {
    const truncated = new TruncatedFrameError(3, 8)
    expect(errors.toTejError(truncated)).toMatchObject({ code: api.ErrorCode.TRUNCATED, cause: truncated })
    const idle = new IdleTimeoutError(100)
    expect(errors.toTejError(idle)).toMatchObject({ code: api.ErrorCode.IDLE_TIMEOUT, cause: idle, timeout: 100 })
    const reset = Object.assign(new Error('reset'), { code: 'ECONNRESET' })
    expect(errors.toTejError(new ClosedError('stream failed', { cause: reset }))).toMatchObject({
      code: api.ErrorCode.CLOSED,
      cause: reset,
    })
    const ours = new api.TejBadNameError()
    expect(errors.toTejError(new ClosedError('destroyed', { cause: ours }))).toBe(ours)
    expect(errors.toTejError(new ClosedError('destroyed', { cause: idle }))).toMatchObject({ code: api.ErrorCode.IDLE_TIMEOUT })
    const bare = new ClosedError('gone')
    expect(errors.toTejError(bare)).toMatchObject({ code: api.ErrorCode.CLOSED, message: 'gone', cause: bare })
    const usage = new UsageError('bad')
    expect(errors.toTejError(usage)).toBe(usage)
    const foreign = new Error('foreign')
    expect(errors.toTejError(foreign)).toBe(foreign)
  })
})

describe('options', () => {
  it('applies the constants when no limit is given', () => {
    expect(resolveLimits()).toEqual({
      maxFiles: api.DEFAULT_MAX_FILES,
      maxNameBytes: api.DEFAULT_MAX_NAME_BYTES,
      maxFileBytes: api.DEFAULT_MAX_FILE_BYTES,
      maxMessageBytes: api.DEFAULT_MAX_MESSAGE_BYTES,
      maxBufferedBytes: api.DEFAULT_MAX_BUFFERED_BYTES,
      idleTimeout: api.DEFAULT_IDLE_TIMEOUT,
      stallTimeout: 30_000,
    })
    expect(resolveServerOptions()).toMatchObject({
      maxConnections: api.DEFAULT_MAX_CONNECTIONS,
      handshakeTimeout: api.DEFAULT_HANDSHAKE_TIMEOUT,
      pingInterval: api.DEFAULT_PING_INTERVAL,
      timeout: api.DEFAULT_TIMEOUT,
      handler: undefined,
    })
    expect(resolveConnectOptions({})).toMatchObject({ pingInterval: 0, timeout: Number.POSITIVE_INFINITY, handler: undefined })
    expect(resolveServerOptions().limits.stallTimeout).toBe(30_000)
    expect(resolveConnectOptions({}).limits.stallTimeout).toBe(30_000)
  })

  it('takes a stallTimeout of 0 or Infinity as off, and any other integer as given', () => {
    expect(resolveLimits({ stallTimeout: 0 }).stallTimeout).toBe(Number.POSITIVE_INFINITY)
    expect(resolveLimits({ stallTimeout: Number.POSITIVE_INFINITY }).stallTimeout).toBe(Number.POSITIVE_INFINITY)
    expect(resolveLimits({ stallTimeout: 1 }).stallTimeout).toBe(1)
    expect(resolveServerOptions({ limits: { stallTimeout: 5 } }).limits.stallTimeout).toBe(5)
    expect(resolveConnectOptions({ limits: { stallTimeout: 5 } }).limits.stallTimeout).toBe(5)
  })

  it('refuses a stallTimeout that is not an integer from 0 to 2^53 - 1 or Infinity, from both ends', async () => {
    for (const value of [-1, 1.5, 2 ** 53, Number.NaN, Number.NEGATIVE_INFINITY, '5' as never]) {
      expect(() => resolveLimits({ stallTimeout: value })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
      expect(() => api.createServer({ limits: { stallTimeout: value } })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
      await expect(api.connect({ port: 1, limits: { stallTimeout: value } })).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    }
  })

  it.each(['maxFiles', 'maxNameBytes', 'maxFileBytes', 'maxMessageBytes', 'maxBufferedBytes', 'idleTimeout'])(
    'refuses a %s that is not an integer from 0 to 2^53 - 1',
    (option) => {
      for (const value of [-1, 1.5, 2 ** 53, Number.NaN]) {
        expect(() => resolveLimits({ [option]: value })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
        expect(() => api.createServer({ limits: { [option]: value } })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
      }
    },
  )

  it('refuses a pingInterval, timeout, maxConnections or handshakeTimeout out of range', () => {
    for (const value of [-1, 1.5, Number.NaN]) {
      expect(() => api.createServer({ pingInterval: value })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
      expect(() => api.createServer({ timeout: value })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    }
    expect(() => api.createServer({ limits: { maxConnections: 0 } })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => api.createServer({ limits: { handshakeTimeout: 0 } })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => api.createServer({ handler: 'echo' as never })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it('refuses a misspelt option, naming the closest one, at every level', async () => {
    expect(() => api.createServer({ handlr: () => undefined } as never)).toThrow(
      new UsageError("unknown option 'handlr' for createServer() (did you mean 'handler'?)"),
    )
    expect(() => api.createServer({ limits: { maxConnection: 1 } } as never)).toThrow(
      new UsageError("unknown option 'limits.maxConnection' for createServer() (did you mean 'limits.maxConnections'?)"),
    )
    // Flat limits, as this package took them before, are refused rather than ignored.
    expect(() => api.createServer({ idleTimeout: 5 } as never)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    await expect(api.connect({ prot: 1 } as never)).rejects.toThrow(new UsageError("unknown option 'prot' for connect() (did you mean 'port'?)"))
    await expect(api.connect({ limits: { maxConnections: 1 } } as never)).rejects.toMatchObject({ code: 'ERR_PROTO_USAGE' })
    expect(() => new api.TejDecoder({ maxFile: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => api.decodeFrame(new Uint8Array(18), { maxFile: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })
})
