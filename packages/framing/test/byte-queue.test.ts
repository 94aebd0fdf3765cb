import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import { ByteQueue } from '../src/byte-queue.ts'
import { hex } from './helpers.ts'

function queueOf(...chunks: string[]): ByteQueue {
  const queue = new ByteQueue()
  for (const chunk of chunks) queue.push(hex(chunk))
  return queue
}

describe('ByteQueue', () => {
  it('reads integers within and across chunks, BE by default', () => {
    const q = queueOf('01 0203 04', '050607', '08 090a0b0c0d0e0f10', '1112')
    expect(q.length).toBe(18)
    expect(q.u8()).toBe(1)
    expect(q.u16()).toBe(0x0203)
    expect(q.u32()).toBe(0x04050607)
    expect(q.u64()).toBe(0x08090a0b0c0d0e0fn)
    expect(q.u16('le')).toBe(0x1110)
    expect(q.u8()).toBe(0x12)
    expect(q.length).toBe(0)
  })

  it('reads LE integers across chunks', () => {
    const q = queueOf('01', '02', '0304', '05060708 01020304050607')
    expect(q.u16('le')).toBe(0x0201)
    expect(q.u32('le')).toBe(0x06050403)
    expect(q.u64('le')).toBe(0x0605040302010807n)
  })

  it('reads a safe u64 as a number and refuses one above 2^53 - 1', () => {
    expect(queueOf('001fffff ffffffff').safeU64()).toBe(Number.MAX_SAFE_INTEGER)
    expect(queueOf('ffffffff ffff1f00').safeU64('le')).toBe(Number.MAX_SAFE_INTEGER)
    expect(() => queueOf('0020000000000000').safeU64()).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_BAD_LENGTH', value: 2n ** 53n }),
    )
  })

  it('takes a view within a chunk and joins across chunks only', () => {
    // 4 KiB in its own ArrayBuffer: worth keeping as it came, so reads within it are views.
    const first = Buffer.alloc(4096, 0x61)
    const q = new ByteQueue()
    q.push(first)
    q.push(hex('6566'))
    const view = q.take(4094)
    const joined = q.take(3)
    first.fill(0x7a)
    expect(String(view)).toBe('z'.repeat(4094))
    expect(String(joined)).toBe('aae')
    expect(q.take(0).length).toBe(0)
    expect(String(q.take(1))).toBe('f')
  })

  it('copies a small chunk once another follows, and keeps the newest as it came', () => {
    const first = hex('6162')
    const second = hex('6364')
    const q = new ByteQueue()
    q.push(first)
    q.push(second)
    first.fill(0x7a)
    second.fill(0x79)
    expect(String(q.take(4))).toBe('abyy')
  })

  it('copies a chunk whose bytes are less than half its ArrayBuffer plus 512', () => {
    const backing = Buffer.alloc(16_384, 0x61)
    const q = new ByteQueue()
    q.push(backing.subarray(0, 8447))
    q.push(hex('62'))
    backing.fill(0x7a)
    const bytes = q.take(8448)
    expect(bytes.buffer).not.toBe(backing.buffer)
    expect(String(bytes)).toBe(`${'a'.repeat(8447)}b`)
  })

  it('keeps a chunk whose bytes are half its ArrayBuffer plus 512 or more', () => {
    const backing = Buffer.alloc(16_384, 0x61)
    const q = new ByteQueue()
    q.push(backing.subarray(0, 8448))
    q.push(hex('62'))
    expect(q.take(8448).buffer).toBe(backing.buffer)
    q.skip(1)
    // A socket read has an ArrayBuffer of its own size: from 512 bytes on it is kept.
    const read = Buffer.allocUnsafeSlow(512).fill(0x63)
    q.push(read)
    q.push(hex('64'))
    expect(q.take(512).buffer).toBe(read.buffer)
    const smaller = Buffer.allocUnsafeSlow(511).fill(0x65)
    q.push(smaller)
    q.push(hex('66'))
    expect(q.take(512).buffer).not.toBe(smaller.buffer)
  })

  it('compact() copies the newest small chunk at once', () => {
    const chunk = hex('616263')
    const q = new ByteQueue()
    q.push(chunk)
    q.compact()
    chunk.fill(0x7a)
    expect(String(q.take(3))).toBe('abc')
  })

  it('copies only the unread rest of a small chunk it has begun to read', () => {
    const q = queueOf('01020304')
    expect(q.u16()).toBe(0x0102)
    q.push(hex('05'))
    expect(q.length).toBe(3)
    expect(q.take(3)).toEqual(hex('030405'))
  })

  it('takeInto moves bytes across chunks into a target and says how many', () => {
    const q = queueOf('6162', '63', '6465')
    const target = Buffer.alloc(6, 0x2e)
    expect(q.takeInto(target, 1)).toBe(5)
    expect(String(target)).toBe('.abcde')
    expect(q.length).toBe(0)
    const r = queueOf('010203')
    const small = Buffer.alloc(2)
    expect(r.takeInto(small)).toBe(2)
    expect(small).toEqual(hex('0102'))
    expect(r.takeInto(small, 2)).toBe(0)
    expect(r.length).toBe(1)
    expect(() => r.takeInto(small, 3)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => r.takeInto(small, -1)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it('takeUpTo never joins', () => {
    const q = queueOf('6162', '636465')
    expect(String(q.takeUpTo(10))).toBe('ab')
    expect(String(q.takeUpTo(2))).toBe('cd')
    expect(String(q.takeUpTo(10))).toBe('e')
    expect(q.takeUpTo(10).length).toBe(0)
  })

  it('skips across chunks', () => {
    const q = queueOf('6162', '6364', '65')
    q.skip(3)
    expect(String(q.take(2))).toBe('de')
  })

  it('ignores empty chunks', () => {
    const q = new ByteQueue()
    q.push(new Uint8Array(0))
    q.push(hex('01'))
    q.push(Buffer.alloc(0))
    expect(q.length).toBe(1)
    expect(q.u8()).toBe(1)
  })

  it('refuses reads past its length with ERR_PROTO_USAGE', () => {
    const q = queueOf('010203')
    for (const read of [() => q.u32(), () => q.u64(), () => q.safeU64(), () => q.take(4), () => q.skip(4)]) {
      expect(read).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    }
    expect(q.length).toBe(3)
    expect(() => new ByteQueue().u8()).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => q.take(-1)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
    expect(() => q.take(1.5)).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })

  it('keeps working through many chunks', () => {
    const q = new ByteQueue()
    for (let i = 0; i < 5000; i++) q.push(Buffer.from([i & 0xff]))
    for (let i = 0; i < 5000; i++) expect(q.u8()).toBe(i & 0xff)
  })
})
