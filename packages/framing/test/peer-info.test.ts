import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { peerInfo } from '../src/peer-info.ts'
import { duplexPair, tcpPair } from '../src/testing/index.ts'
import { toBuffer, toBytes, toText } from '../src/to-buffer.ts'

describe('peerInfo', () => {
  it('gives the address and port of a TCP peer', async () => {
    const pair = await tcpPair()
    try {
      expect(peerInfo(pair.server)).toEqual({ address: '127.0.0.1', port: pair.client.localPort })
      expect(peerInfo(pair.client)).toEqual({ address: '127.0.0.1', port: pair.server.localPort })
    } finally {
      await pair.close()
    }
  })

  it("gives '' and 0 for a unix socket's client and for an in-memory stream", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'proto-peer-'))
    const server = net.createServer()
    try {
      server.listen(join(dir, 's.sock'))
      await once(server, 'listening')
      const accepted = once(server, 'connection') as Promise<[net.Socket]>
      const client = net.connect(join(dir, 's.sock'))
      const [[socket]] = await Promise.all([accepted, once(client, 'connect')])
      expect(peerInfo(socket)).toEqual({ address: '', port: 0 })
      client.destroy()
      socket.destroy()
    } finally {
      server.close()
      rmSync(dir, { recursive: true, force: true })
    }
    expect(peerInfo(duplexPair()[0])).toEqual({ address: '', port: 0 })
  })
})

describe('bytes and text', () => {
  it('reads UTF-8, with U+FFFD for malformed bytes', () => {
    expect(toText(new Uint8Array([0x68, 0xc3, 0xa9]))).toBe('hé')
    expect(toText(new Uint8Array([0x61, 0xff, 0x62]))).toBe('a\ufffdb')
    expect(toText(new Uint8Array(0))).toBe('')
  })

  it('encodes a string as UTF-8 and views bytes without copying', () => {
    expect([...toBytes('hé')]).toEqual([0x68, 0xc3, 0xa9])
    const whole = new Uint8Array([1, 2, 3, 4])
    const view = toBytes(whole.subarray(1, 3))
    expect([...view]).toEqual([2, 3])
    view[0] = 9
    expect(whole[1]).toBe(9)
    const buffer = Buffer.from('x')
    expect(toBytes(buffer)).toBe(buffer)
    expect(toBuffer(buffer)).toBe(buffer)
  })
})
