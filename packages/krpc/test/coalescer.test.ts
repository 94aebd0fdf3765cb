import { afterEach, describe, expect, it, vi } from 'vitest'
import { COALESCE_DELAY, Coalescer } from '../src/coalescer.ts'

afterEach(() => {
  vi.useRealTimers()
})

function collect(): { pieces: Buffer[]; coalescer: Coalescer } {
  const pieces: Buffer[] = []
  return { pieces, coalescer: new Coalescer((piece) => pieces.push(Buffer.from(piece))) }
}

describe('Coalescer', () => {
  it('passes the first small piece at once, then lets small pieces through together once per delay', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { pieces, coalescer } = collect()
    coalescer.push(Buffer.from('a'), false)
    expect(pieces.map(String)).toEqual(['a'])
    for (const byte of 'bcd') coalescer.push(Buffer.from(byte), false)
    expect(pieces.map(String)).toEqual(['a'])
    vi.advanceTimersByTime(COALESCE_DELAY - 1)
    expect(pieces.map(String)).toEqual(['a'])
    vi.advanceTimersByTime(1)
    expect(pieces.map(String)).toEqual(['a', 'bcd'])
    // A quiet spell: the next piece goes at once again.
    vi.advanceTimersByTime(COALESCE_DELAY)
    coalescer.push(Buffer.from('e'), false)
    expect(pieces.map(String)).toEqual(['a', 'bcd', 'e'])
  })

  it('hands on 4096 waiting bytes without waiting, and everything on the last piece', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { pieces, coalescer } = collect()
    coalescer.push(Buffer.from('a'), false)
    for (let i = 0; i < 4096; i++) coalescer.push(Buffer.from('b'), false)
    expect(pieces.map((p) => p.length)).toEqual([1, 4096])
    coalescer.push(Buffer.from('cd'), false)
    coalescer.push(Buffer.from('e'), true)
    expect(pieces.map((p) => p.length)).toEqual([1, 4096, 3])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('keeps the order when a large piece follows small ones, and passes the large one as it came', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const seen: Buffer[] = []
    const passing = new Coalescer((piece) => seen.push(piece))
    passing.push(Buffer.from('a'), false)
    passing.push(Buffer.from('b'), false)
    const large = Buffer.alloc(8192, 0x63)
    passing.push(large, false)
    expect(seen.map((p) => p.length)).toEqual([1, 1, 8192])
    expect(seen[2]).toBe(large)
  })

  it('copies small pieces that span blocks in order, and stop drops what waits', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { pieces, coalescer } = collect()
    const bytes = Buffer.alloc(200_000)
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251
    // Small views of a larger buffer are copied, not kept.
    for (let i = 0; i < bytes.length; i += 3000) coalescer.push(bytes.subarray(i, Math.min(i + 3000, bytes.length)), false)
    coalescer.flush()
    expect(Buffer.concat(pieces).equals(bytes)).toBe(true)
    expect(pieces.every((p) => p.length <= 65_536)).toBe(true)
    coalescer.push(Buffer.from('x'), false)
    coalescer.push(Buffer.from('y'), false)
    coalescer.stop()
    vi.runAllTimers()
    expect(Buffer.concat(pieces).length).toBe(bytes.length + 1)
  })
})
