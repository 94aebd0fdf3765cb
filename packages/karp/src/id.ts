import { Buffer } from 'node:buffer'
import { randomFillSync } from 'node:crypto'

// One crypto call per 4 KiB of digits instead of one per id keeps pipelined requests cheap.
const POOL_BYTES = 4096
// Bytes from 250 up are dropped so that `byte % 10` gives every digit the same chance.
const UNBIASED_LIMIT = 250

const pool = Buffer.alloc(POOL_BYTES)
let offset = POOL_BYTES
const digits = Buffer.alloc(16)

function randomByte(): number {
  if (offset === POOL_BYTES) {
    randomFillSync(pool)
    offset = 0
  }
  return pool[offset++] ?? 0
}

/** 16 uniform decimal digits from `node:crypto`, drawn again while `taken` holds them. */
export function generateId(taken: { has(id: string): boolean }): string {
  for (;;) {
    for (let i = 0; i < 16; ) {
      const byte = randomByte()
      if (byte < UNBIASED_LIMIT) digits[i++] = 0x30 + (byte % 10)
    }
    const id = digits.toString('latin1')
    if (!taken.has(id)) return id
  }
}
