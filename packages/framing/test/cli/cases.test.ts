import net from 'node:net'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { defineCli, defineVerb } from '../../src/cli/definition.ts'
import { hostOption, jsonOption, portOption, targetPositional, timeoutOption } from '../../src/cli/options.ts'
import { cliCases } from '../../src/testing/cli-cases.ts'

const cli = defineCli({
  name: 'lax',
  summary: 'a bin that ignores what it is asked',
  version: '1.0.0',
  verbs: [
    defineVerb({ name: 'serve', summary: 'serve', options: { host: hostOption('127.0.0.1'), port: portOption(1) }, run: () => 0 }),
    defineVerb({ name: 'send', summary: 'send', positionals: [targetPositional()], options: { timeout: timeoutOption(1), json: jsonOption }, run: () => 0 }),
  ],
})

async function fakePeer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((socket) => socket.end('\u001b]0;pwned\u0007\u001b[2J\n'))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

describe('cliCases', () => {
  const bin = fileURLToPath(new URL('fixtures/lax/dist/cli.mjs', import.meta.url))
  const cases = cliCases({ bin, cli, client: (target) => ['send', target], fakePeer })

  it('covers version, help, usage, listen, connect, --json and escaping', () => {
    expect(cases.map((c) => c.name)).toEqual([
      '--version prints the version of the package',
      '--help explains every verb and every option',
      'serve --help explains its arguments and options',
      'send --help explains its arguments and options',
      'lax: no command is a usage error, exit 2',
      'lax no-such-command: an unknown command is a usage error, exit 2',
      'lax serve --no-such-option: an unknown option is a usage error, exit 2',
      'lax serve --port -1: an integer out of range is a usage error, exit 2',
      'lax send --no-such-option: an unknown option is a usage error, exit 2',
      'lax send: a missing argument is a usage error, exit 2',
      'lax send --timeout 0: an integer out of range is a usage error, exit 2',
      'serve on a busy port exits 2 with ERR_LAX_LISTEN',
      'a client verb with no server exits 2 with ERR_LAX_CONNECT',
      'a client verb with --json prints the error as one JSON line on stdout',
      "the peer's text reaches the terminal escaped",
    ])
  })

  // The bin answers everything with "ok" and exit 0: a case that passed would check nothing.
  for (const conformance of cases) {
    it(`fails on a bin that ignores it: ${conformance.name}`, async () => {
      await expect(conformance.run()).rejects.toMatchObject({ code: 'ERR_ASSERTION' })
    })
  }
})
