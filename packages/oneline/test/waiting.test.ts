// What a queued connection keeps of what it sends while it waits.
import { setFlagsFromString } from 'node:v8'
import type { Duplex } from 'node:stream'
import { runInNewContext } from 'node:vm'
import { duplexPair } from '@proto/framing/testing'
import { describe, expect, it } from 'vitest'
import { Waiting } from '../src/waiting.ts'
import { turn, until } from './helpers.ts'

// A full collection on demand, so that what is still referenced can be told from garbage.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Closes both ends of a pair once the test is done with them. */
function end(ours: Duplex, theirs: Duplex): void {
  theirs.on('error', () => {})
  ours.destroy()
}

describe('a waiting connection', () => {
  it('keeps what it received in one buffer, not the chunks it came in, so 1-byte segments pin no more than they hold', async () => {
    const [ours, theirs] = duplexPair()
    const waiting = new Waiting(ours, 65_536, () => expect.unreachable('it did not leave'))
    // As a socket delivers them: one Buffer, over an ArrayBuffer of its own, per segment.
    const chunks: WeakRef<Buffer>[] = []
    for (let i = 0; i < 2000; i++) {
      const chunk = Buffer.allocUnsafeSlow(1)
      chunk[0] = 0x61 + (i % 26)
      chunks.push(new WeakRef(chunk))
      theirs.write(chunk)
    }
    await until(() => theirs.writableLength === 0, 'every chunk delivered')
    await turn()
    gc()
    // The stream may still know the last chunk it passed on; kept as they came, all 2000 would live.
    expect(chunks.filter((chunk) => chunk.deref() !== undefined).length).toBeLessThanOrEqual(1)
    const held = waiting.take()
    expect(held.toString()).toBe(Array.from({ length: 2000 }, (_, i) => String.fromCharCode(0x61 + (i % 26))).join(''))
    // Grown by doubling: at most twice what it holds.
    expect(held.buffer.byteLength).toBeLessThanOrEqual(2 * 2000)
    end(ours, theirs)
  })

  it('stops reading at holdBytes, and hands over what it held', async () => {
    const [ours, theirs] = duplexPair({ highWaterMark: 16 })
    const waiting = new Waiting(ours, 100, () => expect.unreachable('it did not leave'))
    for (let i = 0; i < 10; i++) theirs.write(Buffer.alloc(40, 0x30 + i))
    await until(() => ours.isPaused(), 'reading paused')
    for (let i = 0; i < 20; i++) await turn()
    const held = waiting.take()
    // 40-byte chunks: the third takes it past 100, and reading stops there.
    expect(held).toEqual(Buffer.concat([0, 1, 2].map((i) => Buffer.alloc(40, 0x30 + i))))
    end(ours, theirs)
  })

  it('leaves once, and drops what it held, when the peer goes', async () => {
    const [ours, theirs] = duplexPair()
    let left = 0
    const waiting = new Waiting(ours, 100, () => left++)
    // Leaving destroys our end, which resets theirs.
    theirs.on('error', () => {})
    theirs.write('ping\n')
    theirs.end()
    await until(() => left > 0, 'it left')
    for (let i = 0; i < 5; i++) await turn()
    expect(left).toBe(1)
    expect(ours.destroyed).toBe(true)
    expect(waiting.take()).toHaveLength(0)
  })
})
