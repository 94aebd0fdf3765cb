import { describe, expect, it } from 'vitest'
import { PacketQueue } from '../src/packet-queue.ts'

class FakeChannel {
  calls: string[] = []
  pause(): void {
    this.calls.push('pause')
  }
  resume(): void {
    this.calls.push('resume')
  }
}

/** A process step per item that finishes only when the test says so. */
function steps(): { process: (item: { n: number }) => Promise<void>; seen: number[]; finish: () => void } {
  const seen: number[] = []
  const pending: (() => void)[] = []
  return {
    seen,
    process: (item) =>
      new Promise<void>((resolve) => {
        seen.push(item.n)
        pending.push(resolve)
      }),
    finish: () => pending.shift()?.(),
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('PacketQueue', () => {
  it('processes an item that finds it idle at once, without pausing the channel', async () => {
    const channel = new FakeChannel()
    const { process, seen, finish } = steps()
    const queue = new PacketQueue(channel, process, () => true)
    queue.push({ n: 1 })
    expect(seen).toEqual([1])
    finish()
    await settle()
    queue.push({ n: 2 })
    finish()
    await settle()
    expect(seen).toEqual([1, 2])
    expect(channel.calls).toEqual([])
  })

  it('holds items that arrive during work in order, pausing once and resuming when empty', async () => {
    const channel = new FakeChannel()
    const { process, seen, finish } = steps()
    const queue = new PacketQueue(channel, process, () => true)
    queue.push({ n: 1 })
    queue.push({ n: 2 })
    queue.push({ n: 3 })
    expect(seen).toEqual([1])
    expect(channel.calls).toEqual(['pause'])
    finish()
    await settle()
    expect(seen).toEqual([1, 2])
    queue.push({ n: 4 })
    finish()
    await settle()
    finish()
    await settle()
    expect(channel.calls).toEqual(['pause'])
    finish()
    await settle()
    expect(seen).toEqual([1, 2, 3, 4])
    expect(channel.calls).toEqual(['pause', 'resume'])
  })

  it('stays paused when reading should not go on', async () => {
    const channel = new FakeChannel()
    const { process, finish } = steps()
    const queue = new PacketQueue(channel, process, () => false)
    queue.push({ n: 1 })
    queue.push({ n: 2 })
    finish()
    await settle()
    finish()
    await settle()
    expect(channel.calls).toEqual(['pause'])
  })
})
