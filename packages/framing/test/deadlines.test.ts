import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DeadlineScheduler, checkTimeout, deadlineSignal, guardCall } from '../src/deadlines.ts'
import { TimeoutError, UsageError } from '../src/errors.ts'

const LONG = 2 ** 31 + 5
const timedOut = (timeout: number): TimeoutError => new TimeoutError('request', timeout)

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
})

afterEach(() => {
  vi.useRealTimers()
})

describe('checkTimeout', () => {
  it('takes integers from 0 to 2^53 - 1 and Infinity, and the fallback for undefined', () => {
    expect(checkTimeout('timeout', 0, 5)).toBe(0)
    expect(checkTimeout('timeout', 1, 5)).toBe(1)
    expect(checkTimeout('timeout', LONG, 5)).toBe(LONG)
    expect(checkTimeout('timeout', Number.MAX_SAFE_INTEGER, 5)).toBe(Number.MAX_SAFE_INTEGER)
    expect(checkTimeout('timeout', Infinity, 5)).toBe(Infinity)
    expect(checkTimeout('timeout', undefined, 5)).toBe(5)
    expect(checkTimeout('timeout', undefined, Infinity)).toBe(Infinity)
  })

  it.each([-1, 1.5, Number.NaN, -Infinity, 2 ** 53, '5'])('refuses %s with ERR_PROTO_USAGE naming the option', (value) => {
    const check = (): number => checkTimeout('connectTimeout', value as number, 5)
    expect(check).toThrow(UsageError)
    expect(check).toThrow(/^connectTimeout must be an integer from 0 to 2\^53 - 1 \(ms\) or Infinity/)
  })
})

describe('DeadlineScheduler', () => {
  it('fires a deadline past the longest timer delay exactly at its time, not 1 ms before', () => {
    const scheduler = new DeadlineScheduler()
    const expired = vi.fn()
    scheduler.schedule(LONG, expired)
    vi.advanceTimersByTime(LONG - 1)
    expect(expired).not.toHaveBeenCalled()
    expect(scheduler.size).toBe(1)
    vi.advanceTimersByTime(1)
    expect(expired).toHaveBeenCalledTimes(1)
    expect(scheduler.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('accepts 2^53 - 1 ms and keeps waiting, one timer at a time', () => {
    const scheduler = new DeadlineScheduler()
    const expired = vi.fn()
    scheduler.schedule(Number.MAX_SAFE_INTEGER, expired)
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(2 ** 31)
      expect(vi.getTimerCount()).toBe(1)
    }
    expect(expired).not.toHaveBeenCalled()
    expect(scheduler.size).toBe(1)
  })

  it('schedules nothing for Infinity', () => {
    const scheduler = new DeadlineScheduler()
    const expired = vi.fn()
    const deadline = scheduler.schedule(Infinity, expired)
    expect(vi.getTimerCount()).toBe(0)
    expect(scheduler.size).toBe(0)
    deadline.cancel()
    vi.advanceTimersByTime(Number.MAX_SAFE_INTEGER)
    expect(expired).not.toHaveBeenCalled()
  })

  it('expires 0 at the next turn of the timer', () => {
    const scheduler = new DeadlineScheduler()
    const expired = vi.fn()
    scheduler.schedule(0, expired)
    expect(expired).not.toHaveBeenCalled()
    vi.advanceTimersByTime(0)
    expect(expired).toHaveBeenCalledTimes(1)
  })

  it.each([-1, 1.5, Number.NaN])('refuses a timeout of %s', (timeout) => {
    expect(() => new DeadlineScheduler().schedule(timeout, () => {})).toThrow(UsageError)
  })

  it('runs many deadlines on one timer, each at its own time and once', () => {
    const scheduler = new DeadlineScheduler()
    const fired: number[] = []
    const timeouts = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) + 1)
    for (const timeout of timeouts) scheduler.schedule(timeout, () => fired.push(timeout))
    expect(vi.getTimerCount()).toBe(1)
    expect(scheduler.size).toBe(1000)
    for (let t = 1; t <= 1000; t++) {
      vi.advanceTimersByTime(1)
      expect(fired.length).toBe(t)
      expect(fired.at(-1)).toBe(t)
      expect(vi.getTimerCount()).toBeLessThanOrEqual(1)
    }
    expect(fired).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1))
  })

  it('re-arms for a deadline earlier than the one armed, and not for a later one', () => {
    const scheduler = new DeadlineScheduler()
    const fired: string[] = []
    scheduler.schedule(1000, () => fired.push('late'))
    scheduler.schedule(2000, () => fired.push('later'))
    scheduler.schedule(10, () => fired.push('early'))
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(10)
    expect(fired).toEqual(['early'])
    vi.advanceTimersByTime(990)
    expect(fired).toEqual(['early', 'late'])
    vi.advanceTimersByTime(1000)
    expect(fired).toEqual(['early', 'late', 'later'])
  })

  it('cancels a deadline, idempotently, and leaves the others running', () => {
    const scheduler = new DeadlineScheduler()
    const first = vi.fn()
    const second = vi.fn()
    const deadline = scheduler.schedule(10, first)
    scheduler.schedule(20, second)
    deadline.cancel()
    deadline.cancel()
    expect(scheduler.size).toBe(1)
    vi.advanceTimersByTime(20)
    expect(first).not.toHaveBeenCalled()
    expect(second).toHaveBeenCalledTimes(1)
    deadline.cancel()
    expect(scheduler.size).toBe(0)
  })

  it('clear() drops every deadline and its timer', () => {
    const scheduler = new DeadlineScheduler()
    const expired = vi.fn()
    const deadline = scheduler.schedule(10, expired)
    scheduler.schedule(LONG, expired)
    scheduler.clear()
    expect(scheduler.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    deadline.cancel()
    vi.advanceTimersByTime(LONG)
    expect(expired).not.toHaveBeenCalled()
    scheduler.schedule(5, expired)
    vi.advanceTimersByTime(5)
    expect(expired).toHaveBeenCalledTimes(1)
  })

  it('lets a deadline schedule another from its callback', () => {
    const scheduler = new DeadlineScheduler()
    const fired: number[] = []
    scheduler.schedule(10, () => {
      fired.push(10)
      scheduler.schedule(5, () => fired.push(15))
    })
    scheduler.schedule(100, () => fired.push(100))
    vi.advanceTimersByTime(15)
    expect(fired).toEqual([10, 15])
    vi.advanceTimersByTime(85)
    expect(fired).toEqual([10, 15, 100])
  })

  it('expires every due deadline when one callback throws, then throws its error', () => {
    const scheduler = new DeadlineScheduler()
    const other = vi.fn()
    scheduler.schedule(10, () => {
      throw new Error('boom')
    })
    scheduler.schedule(10, other)
    scheduler.schedule(20, other)
    expect(() => vi.advanceTimersByTime(10)).toThrow('boom')
    expect(other).toHaveBeenCalledTimes(1)
    vi.advanceTimersByTime(10)
    expect(other).toHaveBeenCalledTimes(2)
  })
})

describe('guardCall', () => {
  it('fails with the timeout error at the deadline, once, with the timeout it used', () => {
    const scheduler = new DeadlineScheduler()
    const fail = vi.fn()
    guardCall(scheduler, undefined, 30_000, fail, timedOut)
    vi.advanceTimersByTime(29_999)
    expect(fail).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(fail).toHaveBeenCalledTimes(1)
    expect(fail.mock.calls[0]?.[0]).toMatchObject({ name: 'TimeoutError', code: 'ERR_PROTO_TIMEOUT', timeout: 30_000 })
    vi.advanceTimersByTime(60_000)
    expect(fail).toHaveBeenCalledTimes(1)
  })

  it('honours a call timeout of 2^31 + 5 ms exactly', () => {
    const scheduler = new DeadlineScheduler()
    const fail = vi.fn()
    guardCall(scheduler, { timeout: LONG }, 30_000, fail, timedOut)
    vi.advanceTimersByTime(LONG - 1)
    expect(fail).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(fail.mock.calls[0]?.[0]).toMatchObject({ message: `request timed out after ${LONG} ms` })
  })

  it('throws at once for an aborted signal and for a timeout of 0', () => {
    const scheduler = new DeadlineScheduler()
    const reason = new Error('stop')
    const fail = vi.fn()
    expect(() => guardCall(scheduler, { signal: AbortSignal.abort(reason) }, 30_000, fail, timedOut)).toThrow(reason)
    expect(() => guardCall(scheduler, { timeout: 0 }, 30_000, fail, timedOut)).toThrow(
      expect.objectContaining({ name: 'TimeoutError', timeout: 0 }),
    )
    expect(fail).not.toHaveBeenCalled()
    expect(scheduler.size).toBe(0)
  })

  it.each([-1, 1.5, Number.NaN, 2 ** 53])('refuses a timeout of %s before anything else', (timeout) => {
    const scheduler = new DeadlineScheduler()
    expect(() => guardCall(scheduler, { timeout, signal: AbortSignal.abort() }, 30_000, () => {}, timedOut)).toThrow(UsageError)
  })

  it('fails with the signal reason on abort, and cancels the deadline', () => {
    const scheduler = new DeadlineScheduler()
    const controller = new AbortController()
    const fail = vi.fn()
    guardCall(scheduler, { signal: controller.signal }, 30_000, fail, timedOut)
    const reason = { not: 'an Error' }
    controller.abort(reason)
    expect(fail).toHaveBeenCalledWith(reason)
    expect(scheduler.size).toBe(0)
    vi.advanceTimersByTime(30_000)
    expect(fail).toHaveBeenCalledTimes(1)
  })

  it('release() cancels the deadline and removes the abort listener, idempotently', () => {
    const scheduler = new DeadlineScheduler()
    const controller = new AbortController()
    const removed = vi.spyOn(controller.signal, 'removeEventListener')
    const fail = vi.fn()
    const guard = guardCall(scheduler, { signal: controller.signal, timeout: 10 }, 30_000, fail, timedOut)
    guard.release()
    guard.release()
    expect(removed).toHaveBeenCalledTimes(1)
    expect(scheduler.size).toBe(0)
    controller.abort()
    vi.advanceTimersByTime(10)
    expect(fail).not.toHaveBeenCalled()
  })

  it('removes the abort listener when the deadline fires first', () => {
    const scheduler = new DeadlineScheduler()
    const controller = new AbortController()
    const removed = vi.spyOn(controller.signal, 'removeEventListener')
    const fail = vi.fn()
    guardCall(scheduler, { signal: controller.signal, timeout: 10 }, 30_000, fail, timedOut)
    vi.advanceTimersByTime(10)
    expect(removed).toHaveBeenCalledTimes(1)
    controller.abort()
    expect(fail).toHaveBeenCalledTimes(1)
  })

  it('has no deadline for Infinity, and keeps only its abort listener', () => {
    const scheduler = new DeadlineScheduler()
    const controller = new AbortController()
    const fail = vi.fn()
    guardCall(scheduler, { signal: controller.signal, timeout: Infinity }, 30_000, fail, timedOut)
    expect(scheduler.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    controller.abort('why')
    expect(fail).toHaveBeenCalledWith('why')
  })

  it('puts the deadlines of many calls on the one timer of their scheduler', () => {
    const scheduler = new DeadlineScheduler()
    const fail = vi.fn()
    const guards = Array.from({ length: 100 }, (_, i) => guardCall(scheduler, { timeout: 100 + i }, 0, fail, timedOut))
    expect(vi.getTimerCount()).toBe(1)
    for (const guard of guards.slice(0, 50)) guard.release()
    vi.advanceTimersByTime(199)
    expect(fail).toHaveBeenCalledTimes(50)
  })
})

describe('deadlineSignal', () => {
  it('is undefined with neither signal nor deadline, and the caller signal with no deadline', () => {
    expect(deadlineSignal(undefined, Infinity, timedOut).signal).toBeUndefined()
    const controller = new AbortController()
    expect(deadlineSignal({ signal: controller.signal }, Infinity, timedOut).signal).toBe(controller.signal)
  })

  it('aborts with the package error at the deadline, even past 2^32 ms', () => {
    const { signal } = deadlineSignal({ timeout: 2 ** 33 }, 30_000, timedOut)
    vi.advanceTimersByTime(2 ** 33 - 1)
    expect(signal?.aborted).toBe(false)
    vi.advanceTimersByTime(1)
    expect(signal?.reason).toMatchObject({ name: 'TimeoutError', code: 'ERR_PROTO_TIMEOUT', timeout: 2 ** 33 })
  })

  it('uses the default timeout when the call gives none', () => {
    const { signal } = deadlineSignal({}, 50, timedOut)
    vi.advanceTimersByTime(50)
    expect(signal?.reason).toBeInstanceOf(TimeoutError)
  })

  it('follows the caller signal, until released', () => {
    const first = new AbortController()
    const watched = deadlineSignal({ signal: first.signal }, 1000, timedOut)
    first.abort('first')
    expect(watched.signal?.reason).toBe('first')
    const second = new AbortController()
    const released = deadlineSignal({ signal: second.signal }, 1000, timedOut)
    released.release()
    second.abort('second')
    vi.advanceTimersByTime(1000)
    expect(released.signal?.aborted).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('is already aborted for an aborted caller signal or a timeout of 0', () => {
    const aborted = AbortSignal.abort('gone')
    expect(deadlineSignal({ signal: aborted }, 1000, timedOut).signal).toBe(aborted)
    const zero = deadlineSignal({ timeout: 0 }, 1000, timedOut).signal
    expect(zero?.aborted).toBe(true)
    expect(zero?.reason).toMatchObject({ name: 'TimeoutError', timeout: 0 })
  })

  it('refuses a bad timeout', () => {
    expect(() => deadlineSignal({ timeout: -1 }, 1000, timedOut)).toThrow(UsageError)
  })
})
