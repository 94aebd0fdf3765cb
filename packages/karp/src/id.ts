// Request ids: 16 uniform decimal digits from node:crypto, unique among a connection's pending requests.
import { Buffer } from 'node:buffer'
import { randomFillSync } from 'node:crypto'

// Digits are made 8192 at a time, and each id is a 16-character slice of them: one crypto call
// serves about 500 ids, which keeps pipelined requests cheap.
const POOL_DIGITS = 8192
const RANDOM_BYTES = 4096
// 42 · 10^8 is the largest multiple of 10^8 below 2^32: words from it up are drawn again, so that
// `word % 10^8` gives 8 digits that are each uniform.
const UNBIASED_LIMIT = 4_200_000_000
const EIGHT_DIGITS = 100_000_000

const random = Buffer.alloc(RANDOM_BYTES)
const digits = Buffer.alloc(POOL_DIGITS)
let pool = ''
let offset = POOL_DIGITS

function refill(): void {
  let filled = 0
  while (filled < POOL_DIGITS) {
    randomFillSync(random)
    for (let at = 0; at < RANDOM_BYTES && filled < POOL_DIGITS; at += 4) {
      const word = random.readUInt32LE(at)
      if (word >= UNBIASED_LIMIT) continue
      let value = word % EIGHT_DIGITS
      for (let i = filled + 7; i >= filled; i--) {
        digits[i] = 0x30 + (value % 10)
        value = Math.floor(value / 10)
      }
      filled += 8
    }
  }
  pool = digits.toString('latin1')
  offset = 0
}

/** 16 uniform decimal digits from `node:crypto`, drawn again while `taken` holds them. */
export function generateId(taken: { has(id: string): boolean }): string {
  for (;;) {
    if (offset === POOL_DIGITS) refill()
    const id = pool.slice(offset, offset + 16)
    offset += 16
    if (!taken.has(id)) return id
  }
}
