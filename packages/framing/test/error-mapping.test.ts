import { describe, expect, it } from 'vitest'
import { errorMapper } from '../src/error-mapping.ts'
import {
  BadLengthError,
  ClosedError,
  FrameTooLargeError,
  IdleTimeoutError,
  InvalidFrameError,
  ProtoError,
  TimeoutError,
  TruncatedFrameError,
  UsageError,
  WriteBufferFullError,
  isProtoError,
} from '../src/errors.ts'

// Stand-ins for a package's classes: what matters is the code, message and cause each mapping gives.
class PackageError extends ProtoError {
  override readonly code: string
  constructor(code: string, message?: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}
const make = (code: string) => (message?: string, options?: ErrorOptions) => new PackageError(code, message, options)

const socketError = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })

function outcome(value: unknown): { code: unknown; message: unknown; cause: unknown } {
  const { code, message, cause } = value as { code?: unknown; message?: unknown; cause?: unknown }
  return { code, message, cause }
}

describe('errorMapper', () => {
  it('keeps the package’s own errors, ERR_PROTO_USAGE and ERR_PROTO_WRITE_BUFFER_FULL as they are', () => {
    const map = errorMapper({ codes: {}, closed: () => 'closed', fallback: () => 'fallback' })
    for (const err of [new PackageError('ERR_KARP_BAD'), new UsageError('bad option'), new WriteBufferFullError(1, 2, 2), new ProtoError('base')]) {
      expect(map(err)).toBe(err)
    }
  })

  it('returns foreign errors and unmapped framing codes as they are without a fallback', () => {
    const map = errorMapper({})
    const truncated = new TruncatedFrameError(1)
    expect(map(socketError)).toBe(socketError)
    expect(map(truncated)).toBe(truncated)
    expect(map(new ClosedError())).toBeInstanceOf(ClosedError)
    expect(map('a string')).toBe('a string')
  })

  it('maps by code, not class, so a second installed copy of framing maps the same', () => {
    const foreignCopy = Object.assign(Object.create(new IdleTimeoutError(5)) as object, { code: 'ERR_PROTO_IDLE_TIMEOUT' })
    expect(isProtoError(foreignCopy)).toBe(true)
    const map = errorMapper({ codes: { ERR_PROTO_IDLE_TIMEOUT: (err) => new PackageError('ERR_X_IDLE_TIMEOUT', 'idle', { cause: err }) } })
    expect(map(foreignCopy)).toMatchObject({ code: 'ERR_X_IDLE_TIMEOUT', cause: foreignCopy })
  })

  it('unwraps what ended a connection through nested ClosedErrors', () => {
    const seen: unknown[] = []
    const map = errorMapper({ closed: (message, cause) => seen.push([message, cause]) })
    map(new ClosedError('stream failed: read ECONNRESET', { cause: socketError }))
    map(new ClosedError('write after the connection closed', { cause: new ClosedError('aborted', { cause: 'why' }) }))
    const bare = new ClosedError()
    map(bare)
    expect(seen).toEqual([
      ['stream failed: read ECONNRESET', socketError],
      ['write after the connection closed', 'why'],
      ['connection closed', bare],
    ])
  })

  it('maps a framing TimeoutError to the package’s when asked', () => {
    const map = errorMapper({ codes: { ERR_PROTO_TIMEOUT: (err) => new TimeoutError((err as TimeoutError).what, (err as TimeoutError).timeout, { cause: err }) } })
    const timedOut = new TimeoutError('write', 5)
    expect(map(timedOut)).toMatchObject({ name: 'TimeoutError', what: 'write', cause: timedOut })
  })
})

// Each package's hand-written mapping, as it behaves today, expressed with errorMapper.
describe('the mappings of the protocol packages', () => {
  it('karp: a ClosedError becomes ERR_KARP_CLOSED with the socket error as cause; an overlong line ERR_KARP_FRAME_TOO_LARGE counting the LF', () => {
    const closed = make('ERR_KARP_CLOSED')
    const map = errorMapper({
      codes: { ERR_PROTO_FRAME_TOO_LARGE: (err) => make('ERR_KARP_FRAME_TOO_LARGE')(`frame of ${(err as FrameTooLargeError).size + 1} bytes`, { cause: err }) },
      closed: (_message, cause) => closed('connection closed', { cause }),
    })
    expect(outcome(map(new ClosedError('stream failed', { cause: socketError })))).toEqual({
      code: 'ERR_KARP_CLOSED',
      message: 'connection closed',
      cause: socketError,
    })
    const tooLarge = new FrameTooLargeError(64, 63)
    expect(outcome(map(tooLarge))).toEqual({ code: 'ERR_KARP_FRAME_TOO_LARGE', message: 'frame of 65 bytes', cause: tooLarge })
    const full = new WriteBufferFullError(1, 2, 2)
    expect(map(full)).toBe(full)
  })

  it('oneline: limits and bad lines under ERR_ONELINE_*, anything else as ERR_ONELINE_CLOSED', () => {
    const limits = { maxLineBytes: 10, idleTimeout: 500 }
    const closed = make('ERR_ONELINE_CLOSED')
    const map = errorMapper({
      codes: {
        ERR_PROTO_FRAME_TOO_LARGE: (err) => make('ERR_ONELINE_LINE_TOO_LONG')(`line longer than maxLineBytes (${limits.maxLineBytes} bytes)`, { cause: err }),
        ERR_PROTO_BAD_LENGTH: (err) => make('ERR_ONELINE_LINE_TOO_LONG')(`line longer than maxLineBytes (${limits.maxLineBytes} bytes)`, { cause: err }),
        ERR_PROTO_INVALID_FRAME: (err) => make('ERR_ONELINE_INVALID_LINE')('a line must not contain LF', { cause: err }),
        ERR_PROTO_IDLE_TIMEOUT: (err) => make('ERR_ONELINE_IDLE_TIMEOUT')(`client silent for ${limits.idleTimeout} ms`, { cause: err }),
      },
      closed: (message, cause) => closed(message, { cause }),
      // A socket's own error has no message worth repeating; an unmapped framing one does.
      fallback: (err) =>
        isProtoError(err) ? closed(err.message, { cause: err.cause ?? err }) : closed('connection closed', { cause: err }),
    })
    const tooLarge = new FrameTooLargeError(11, 10)
    expect(outcome(map(tooLarge))).toEqual({ code: 'ERR_ONELINE_LINE_TOO_LONG', message: 'line longer than maxLineBytes (10 bytes)', cause: tooLarge })
    expect(outcome(map(new BadLengthError(-1)))).toMatchObject({ code: 'ERR_ONELINE_LINE_TOO_LONG' })
    expect(outcome(map(new InvalidFrameError('LF')))).toMatchObject({ code: 'ERR_ONELINE_INVALID_LINE' })
    expect(outcome(map(new IdleTimeoutError(500)))).toMatchObject({ code: 'ERR_ONELINE_IDLE_TIMEOUT', message: 'client silent for 500 ms' })
    expect(outcome(map(new ClosedError('stream failed: read ECONNRESET', { cause: socketError })))).toEqual({
      code: 'ERR_ONELINE_CLOSED',
      message: 'stream failed: read ECONNRESET',
      cause: socketError,
    })
    expect(outcome(map(socketError))).toEqual({ code: 'ERR_ONELINE_CLOSED', message: 'connection closed', cause: socketError })
    const truncated = new TruncatedFrameError(3)
    expect(outcome(map(truncated))).toEqual({ code: 'ERR_ONELINE_CLOSED', message: truncated.message, cause: truncated })
    const own = make('ERR_ONELINE_BUSY')('busy')
    expect(map(own)).toBe(own)
    // The one place oneline's copy parts from the shared rule: it turned ERR_PROTO_USAGE into CLOSED.
    const usage = new UsageError('bad')
    expect(map(usage)).toBe(usage)
  })

  it('tej: truncation and idleness under ERR_TEJ_*, a connection destroyed with an error reports that error, the rest as it is', () => {
    const closed = make('ERR_TEJ_CLOSED')
    const map: (err: unknown) => unknown = errorMapper({
      codes: {
        ERR_PROTO_TRUNCATED_FRAME: (err) => make('ERR_TEJ_TRUNCATED')('stream ended inside a frame', { cause: err }),
        ERR_PROTO_IDLE_TIMEOUT: (err) => make('ERR_TEJ_IDLE_TIMEOUT')('no byte received within idleTimeout', { cause: err }),
      },
      closed: (message, cause) =>
        isProtoError(cause) && !(cause instanceof ClosedError) ? map(cause) : closed(message, { cause }),
    })
    const truncated = new TruncatedFrameError(2, 9)
    expect(outcome(map(truncated))).toEqual({ code: 'ERR_TEJ_TRUNCATED', message: 'stream ended inside a frame', cause: truncated })
    const idle = new IdleTimeoutError(5)
    expect(outcome(map(new ClosedError('write after the connection closed', { cause: idle })))).toMatchObject({ code: 'ERR_TEJ_IDLE_TIMEOUT', cause: idle })
    const limit = make('ERR_TEJ_FILE_TOO_LARGE')('file size of 9 is over the limit of 8')
    expect(map(new ClosedError('write after the connection closed', { cause: limit }))).toBe(limit)
    expect(outcome(map(new ClosedError('stream failed', { cause: socketError })))).toEqual({
      code: 'ERR_TEJ_CLOSED',
      message: 'stream failed',
      cause: socketError,
    })
    const bare = new ClosedError()
    expect(outcome(map(bare))).toEqual({ code: 'ERR_TEJ_CLOSED', message: 'connection closed', cause: bare })
    const tooLarge = new FrameTooLargeError(2, 1)
    expect(map(tooLarge)).toBe(tooLarge)
    expect(map(socketError)).toBe(socketError)
  })

  it('korv: sizes as ERR_KORV_MESSAGE_TOO_LARGE with size and limit, everything else from the decoder as ERR_KORV_BAD_MESSAGE', () => {
    const badMessage = make('ERR_KORV_BAD_MESSAGE')
    const tooLarge = (err: ProtoError): Error => {
      const { size, limit } = err as Partial<FrameTooLargeError>
      return Object.assign(make('ERR_KORV_MESSAGE_TOO_LARGE')('message too large', { cause: err }), { size, limit })
    }
    const map = errorMapper({
      codes: {
        ERR_PROTO_FRAME_TOO_LARGE: tooLarge,
        ERR_PROTO_BAD_LENGTH: tooLarge,
        ERR_PROTO_TRUNCATED_FRAME: (err) => badMessage('channel ended inside a message', { cause: err }),
      },
      fallback: (err) => badMessage('not a gzip member', { cause: err }),
    })
    const over = new FrameTooLargeError(40_000, 32_768)
    expect(map(over)).toMatchObject({ code: 'ERR_KORV_MESSAGE_TOO_LARGE', size: 40_000, limit: 32_768, cause: over })
    expect(outcome(map(new TruncatedFrameError(4)))).toMatchObject({ code: 'ERR_KORV_BAD_MESSAGE', message: 'channel ended inside a message' })
    const invalid = new InvalidFrameError('bad header')
    expect(outcome(map(invalid))).toEqual({ code: 'ERR_KORV_BAD_MESSAGE', message: 'not a gzip member', cause: invalid })
    const zlibError = Object.assign(new Error('invalid block type'), { code: 'Z_DATA_ERROR' })
    expect(outcome(map(zlibError))).toEqual({ code: 'ERR_KORV_BAD_MESSAGE', message: 'not a gzip member', cause: zlibError })
    const closedErr = new ClosedError()
    expect(outcome(map(closedErr))).toEqual({ code: 'ERR_KORV_BAD_MESSAGE', message: 'not a gzip member', cause: closedErr })
  })
})
