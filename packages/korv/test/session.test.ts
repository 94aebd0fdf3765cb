import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../src/constants.ts'
import { ServerSession } from '../src/session.ts'
import type { SessionHost } from '../src/session.ts'

const host: SessionHost = {
  limits: DEFAULT_LIMITS,
  exposeErrors: false,
  closing: false,
  authorizedKeys: [],
  route: () => undefined,
  clientError: () => {},
  handlerError: () => {},
  handlerStarted: () => {},
  handlerSettled: () => {},
}

describe('ServerSession.holdWrites', () => {
  it('corks the socket once per tick and uncorks it when the tick ends', async () => {
    const calls: string[] = []
    const socket = Object.assign(new EventEmitter(), {
      cork: () => calls.push('cork'),
      uncork: () => calls.push('uncork'),
      destroy: () => {},
    })
    const session = new ServerSession(host, socket as unknown as Socket, { address: '127.0.0.1', port: 1 })
    session.holdWrites()
    session.holdWrites()
    await Promise.resolve()
    session.holdWrites()
    expect(calls).toEqual(['cork'])
    await new Promise((resolve) => process.nextTick(resolve))
    expect(calls).toEqual(['cork', 'uncork'])
    session.holdWrites()
    await new Promise((resolve) => process.nextTick(resolve))
    expect(calls).toEqual(['cork', 'uncork', 'cork', 'uncork'])
    socket.emit('close')
  })
})
