// Graceful shutdown: on SIGTERM the server stops accepting, lets the handlers that run finish and
// their replies go out, answers requests that arrive meanwhile with `500 closing`, then ends every
// connection; a deadline cuts what is still open after it. The example sends itself SIGTERM while
// a request is being handled. Needs `ssh-keygen` (OpenSSH) on PATH.
//
// Prints:
//   handler started
//   SIGTERM: closing the server
//   sent while closing: closing (ERR_KORV_REMOTE, status 500)
//   reply: {"done":true}
//   server closed
//   client connection closed
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from '@proto/korv'

// Throwaway keys and the files that name them (see examples/quickstart.mjs).
const dir = mkdtempSync(join(tmpdir(), 'korv-'))
const file = (name) => join(dir, name)
for (const name of ['host_key', 'client_key']) {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file(name)])
}
writeFileSync(file('authorized_keys'), readFileSync(file('client_key.pub')))

// Promise.withResolvers() from Node 22 on.
const deferred = () => {
  let resolve
  const promise = new Promise((done) => (resolve = done))
  return { promise, resolve }
}
// The slow handler's work: it ends when the example says so, once the server is closing.
const work = deferred()
const handlerStarted = deferred()
const stopped = deferred()
const server = createServer({
  hostKeys: [{ path: file('host_key') }],
  authorizedKeys: { path: file('authorized_keys') },
  handlers: {
    GET: {
      '/slow': async (request, ctx) => {
        handlerStarted.resolve()
        // ctx.signal aborts when the channel closes before the work is done.
        await Promise.race([work.promise, once(ctx.signal, 'abort')])
        return { code: 200, body: { done: true } }
      },
      '/quick': () => ({ code: 200, body: 'quick' }),
    },
  },
})
const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 })
writeFileSync(file('known_hosts'), `[${host}]:${port} ${readFileSync(file('host_key.pub'), 'utf8')}`)

process.once('SIGTERM', async () => {
  console.log('SIGTERM: closing the server')
  // Past 10 s, connections still open are cut and running handlers see ctx.signal abort.
  await server.close({ signal: AbortSignal.timeout(10_000) })
  console.log('server closed')
  stopped.resolve()
})

const client = await connect({ host, port, privateKey: { path: file('client_key') }, knownHosts: { path: file('known_hosts') } })
const slow = client.get('/slow')
await handlerStarted.promise
console.log('handler started')

process.kill(process.pid, 'SIGTERM')
await once(process, 'SIGTERM')
try {
  await client.get('/quick')
} catch (err) {
  console.log(`sent while closing: ${err.message} (${err.code}, status ${err.status})`)
}
work.resolve()
console.log(`reply: ${JSON.stringify((await slow).body)}`)

// The server ends the connection once its handlers are done; the client's end follows.
await stopped.promise
await client.closed
console.log('client connection closed')
rmSync(dir, { recursive: true })
