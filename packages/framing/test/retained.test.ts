import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import { retainedBytes } from '../src/retained.ts'

describe('retainedBytes', () => {
  it('counts the whole ArrayBuffer a chunk keeps alive, plus 512 bytes of objects', () => {
    expect(retainedBytes(Buffer.allocUnsafeSlow(1))).toBe(513)
    expect(retainedBytes(Buffer.allocUnsafeSlow(65_536).subarray(10, 11))).toBe(66_048)
    expect(retainedBytes(new Uint8Array(new ArrayBuffer(4096), 4000, 96))).toBe(4608)
    expect(retainedBytes(new Uint8Array(0))).toBe(512)
  })
})
