import ssh2 from 'ssh2'
import { describe, expect, it } from 'vitest'
import { createServer } from '../src/server.ts'
import { ErrorCode } from '../src/errors.ts'
import { keyPair, startServer } from './helpers.ts'

const rsa = keyPair('rsa', 1)

interface ExtInfoHandlers {
  _protocol: { _handlers: { EXT_INFO: (proto: unknown, exts: { name: string; algs?: string[] }[]) => void } }
}

/**
 * Signs in with a real ssh2 client and an RSA key. ssh2 signs with the first of `rsa-sha2-256`,
 * `rsa-sha2-512` that the server's `server-sig-algs` lists, and with `ssh-rsa` (SHA-1) when it
 * received none: `sigAlgs` stands in for the list the server sent, `undefined` drops it.
 */
async function signIn(port: number, sigAlgs: string[] | undefined): Promise<true | Error> {
  const client = new ssh2.Client()
  const result = new Promise<true | Error>((resolve) => {
    client.once('ready', () => resolve(true))
    client.once('error', resolve)
  })
  client.connect({ host: '127.0.0.1', port, username: 'korv', privateKey: rsa.private, algorithms: { compress: ['none'] } })
  const handlers = (client as unknown as ExtInfoHandlers)._protocol._handlers
  const original = handlers.EXT_INFO
  handlers.EXT_INFO = (proto) => {
    if (sigAlgs !== undefined) original(proto, [{ name: 'server-sig-algs', algs: sigAlgs }])
  }
  const outcome = await result
  client.end()
  return outcome
}

describe('ssh-rsa (SHA-1) user-auth signatures', () => {
  it('are refused by default, as OpenSSH 8.8 and later refuse them', async () => {
    const t = await startServer({ clientKey: rsa })
    const refused = t.nextClientError()
    const outcome = await signIn(t.port, undefined)
    expect(outcome).toBeInstanceOf(Error)
    expect(outcome).toMatchObject({ level: 'client-authentication' })
    expect(await refused).toMatchObject({ code: ErrorCode.AUTH_FAILED })
    await t.close()
  })

  it('are accepted with insecureAllowRsaSha1', async () => {
    const t = await startServer({ clientKey: rsa, insecureAllowRsaSha1: true })
    expect(await signIn(t.port, undefined)).toBe(true)
    expect(t.clientErrors).toEqual([])
    await t.close()
  })

  it.each(['rsa-sha2-256', 'rsa-sha2-512'])('%s signatures are accepted by default', async (algo) => {
    const t = await startServer({ clientKey: rsa })
    expect(await signIn(t.port, [algo])).toBe(true)
    expect(t.clientErrors).toEqual([])
    await t.close()
  })

  it('take only a boolean for insecureAllowRsaSha1', () => {
    expect(() => createServer({ hostKeys: [rsa.private], authorizedKeys: '', insecureAllowRsaSha1: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({ code: 'ERR_PROTO_USAGE' }),
    )
  })
})
