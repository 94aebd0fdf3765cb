// connectTimeout under fake timers, in a file of its own: connects share one deadline timer for the
// process, which a real connect made earlier would have left armed on the real clock.
import { silentServer } from '@proto/framing/testing'
import type { SilentServer } from '@proto/framing/testing'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { connect } from '../src/client.ts'
import { ErrorCode } from '../src/errors.ts'

let silent: SilentServer

beforeEach(async () => {
  // A TLS handshake this peer never answers: a connect to it can only time out.
  silent = await silentServer()
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
})

afterEach(async () => {
  vi.useRealTimers()
  await silent.close()
})

/** Whether `promise` has settled, checked without waiting for it. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending')
  return (await Promise.race([promise.then(() => true, () => true), Promise.resolve(marker)])) !== marker
}

describe('connectTimeout', () => {
  it('honours 2^31 + 5 ms exactly: not a moment before', async () => {
    const long = 2 ** 31 + 5
    const connecting = connect({ host: silent.host, port: silent.port, tls: true, connectTimeout: long })
    connecting.catch(() => undefined)
    await silent.accepted()
    await vi.advanceTimersByTimeAsync(long - 1)
    expect(await settled(connecting)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await expect(connecting).rejects.toMatchObject({
      name: 'TimeoutError',
      code: ErrorCode.TIMEOUT,
      message: `connect to 127.0.0.1:${silent.port} timed out after ${long} ms`,
    })
  })

  it('defaults to 30 s', async () => {
    const connecting = connect({ host: silent.host, port: silent.port, tls: true })
    connecting.catch(() => undefined)
    await silent.accepted()
    await vi.advanceTimersByTimeAsync(29_999)
    expect(await settled(connecting)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await expect(connecting).rejects.toMatchObject({ code: ErrorCode.TIMEOUT, timeout: 30_000 })
  })
})
