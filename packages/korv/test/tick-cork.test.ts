import { describe, expect, it } from 'vitest'
import { TickCork } from '../src/tick-cork.ts'

const nextTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve))

describe('TickCork', () => {
  it('corks the socket once per tick and uncorks it when the tick ends', async () => {
    const calls: string[] = []
    const cork = new TickCork({ cork: () => calls.push('cork'), uncork: () => calls.push('uncork') })
    cork.hold()
    cork.hold()
    await Promise.resolve()
    cork.hold()
    expect(calls).toEqual(['cork'])
    await nextTick()
    expect(calls).toEqual(['cork', 'uncork'])
    cork.hold()
    await nextTick()
    expect(calls).toEqual(['cork', 'uncork', 'cork', 'uncork'])
  })
})
