import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import net from 'node:net'
import { dirname } from 'node:path'
import process from 'node:process'
import tls from 'node:tls'
import { describe, expect, it } from 'vitest'
import { makeTestCertificate } from '../src/testing/certificate.ts'
import { silentServer } from '../src/testing/silent-server.ts'
import { tempSocketPath } from '../src/testing/socket-path.ts'

async function tlsRoundTrip(host: string, cert: { key: string; cert: string; ca: string }): Promise<string> {
  const server = tls.createServer({ key: cert.key, cert: cert.cert }, (socket) => socket.end('hello over TLS'))
  server.listen(0, host)
  await once(server, 'listening')
  try {
    const { port } = server.address() as net.AddressInfo
    const client = tls.connect({ host, port, ca: cert.ca, servername: host === 'localhost' ? host : undefined })
    await once(client, 'secureConnect')
    expect(client.authorized).toBe(true)
    const chunks: Buffer[] = []
    for await (const chunk of client) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString()
  } finally {
    server.close()
  }
}

describe('makeTestCertificate', () => {
  it('makes a certificate a client trusts for 127.0.0.1 and ::1', async () => {
    const cert = await makeTestCertificate()
    expect(cert.key).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(cert.cert).toMatch(/^-----BEGIN CERTIFICATE-----/)
    expect(cert.ca).toBe(cert.cert)
    expect(await tlsRoundTrip('127.0.0.1', cert)).toBe('hello over TLS')
    expect(await tlsRoundTrip('::1', cert)).toBe('hello over TLS')
  })

  it('makes a new key each time', async () => {
    const [a, b] = await Promise.all([makeTestCertificate(), makeTestCertificate()])
    expect(a.key).not.toBe(b.key)
  })

  it('says so when the openssl binary is missing', async () => {
    const path = process.env['PATH']
    process.env['PATH'] = ''
    try {
      await expect(makeTestCertificate()).rejects.toMatchObject({
        code: 'ERR_PROTO_USAGE',
        message: 'makeTestCertificate() needs the openssl binary on PATH (apt-get install openssl)',
      })
    } finally {
      process.env['PATH'] = path
    }
  })
})

describe('silentServer', () => {
  it('accepts on 127.0.0.1 and never answers, not even a TLS handshake', async () => {
    const silent = await silentServer()
    const client = tls.connect({ host: silent.host, port: silent.port, rejectUnauthorized: false })
    client.on('error', () => undefined)
    const socket = await silent.accepted()
    expect(silent.sockets.has(socket)).toBe(true)
    // The ClientHello arrives, and nothing goes back.
    await once(socket, 'data')
    expect(socket.bytesWritten).toBe(0)
    expect(client.authorized).toBe(false)
    const closed = new Promise((resolve) => client.on('close', resolve))
    await silent.close()
    await closed
    expect(silent.sockets.size).toBe(0)
  })
})

describe('tempSocketPath', () => {
  it('gives a free path a unix socket can listen on, and removes its directory', async () => {
    const { path, remove } = await tempSocketPath()
    expect(existsSync(path)).toBe(false)
    const server = net.createServer().listen(path)
    await once(server, 'listening')
    expect(existsSync(path)).toBe(true)
    await new Promise((resolve) => server.close(resolve))
    await remove()
    expect(existsSync(dirname(path))).toBe(false)
  })
})
