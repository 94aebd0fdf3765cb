import { describe, expect, it } from 'vitest'
import * as oneline from '../src/index.ts'

describe('public surface', () => {
  it('exports the API of the spec and nothing else', () => {
    expect(Object.keys(oneline).sort()).toEqual(
      [
        'Command',
        'DEFAULT_BUSY',
        'DEFAULT_CONNECT_TIMEOUT',
        'DEFAULT_HOST',
        'DEFAULT_IDLE_TIMEOUT',
        'DEFAULT_MAX_CONNECTIONS',
        'DEFAULT_MAX_LINE_BYTES',
        'DEFAULT_MAX_QUEUE',
        'DEFAULT_MAX_QUEUED_LINES',
        'DEFAULT_MAX_WRITE_BUFFER_BYTES',
        'DEFAULT_PORT',
        'DEFAULT_TIMEOUT',
        'DEMO_MAX_COUNT',
        'ErrorCode',
        'OnelineBadPongError',
        'OnelineBusyError',
        'OnelineClosedError',
        'OnelineConnectError',
        'OnelineError',
        'OnelineIdleTimeoutError',
        'OnelineInvalidLineError',
        'OnelineLineTooLongError',
        'OnelineListenError',
        'OnelineProxyHeaderError',
        'OnelineTimeoutError',
        'OnelineTlsHandshakeError',
        'OnelineTooManyConnectionsError',
        'OnelineUnpromptedError',
        'PONG',
        'connect',
        'createServer',
        'decodeCommand',
        'demoHandler',
        'encodeLine',
      ].sort(),
    )
  })

  it('has the defaults of the spec', () => {
    expect({
      port: oneline.DEFAULT_PORT,
      maxLineBytes: oneline.DEFAULT_MAX_LINE_BYTES,
      maxQueue: oneline.DEFAULT_MAX_QUEUE,
      busy: oneline.DEFAULT_BUSY,
      idleTimeout: oneline.DEFAULT_IDLE_TIMEOUT,
      timeout: oneline.DEFAULT_TIMEOUT,
      connectTimeout: oneline.DEFAULT_CONNECT_TIMEOUT,
      maxConnections: oneline.DEFAULT_MAX_CONNECTIONS,
      maxQueuedLines: oneline.DEFAULT_MAX_QUEUED_LINES,
      maxWriteBufferBytes: oneline.DEFAULT_MAX_WRITE_BUFFER_BYTES,
    }).toEqual({
      port: 5001,
      maxLineBytes: 65_536,
      maxQueue: 16,
      busy: 'queue',
      idleTimeout: 0,
      timeout: 3000,
      connectTimeout: 30_000,
      maxConnections: 1024,
      maxQueuedLines: 1024,
      maxWriteBufferBytes: 67_108_864,
    })
  })
})
