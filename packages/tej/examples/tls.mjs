// tej over TLS: the server gets a certificate and key, the client trusts that certificate and
// checks that it names 127.0.0.1. Without arguments it makes a self-signed certificate for
// 127.0.0.1 with `openssl` in a temporary directory; pass CERT and KEY paths (PEM) to use your own.
//
//   node examples/tls.mjs                         # needs openssl on PATH
//   node examples/tls.mjs cert.pem key.pem        # a certificate valid for 127.0.0.1
//
// Prints:
//   listening on 127.0.0.1:<port> with TLS
//   echoed over TLS: status 1, hello over tls
//   an untrusting client: cannot connect to 127.0.0.1:<port>: self-signed certificate (ERR_TEJ_CONNECT)
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from '@proto/tej'

let [certPath, keyPath] = process.argv.slice(2)
let temporary
if (certPath === undefined || keyPath === undefined) {
  temporary = mkdtempSync(join(tmpdir(), 'tej-tls-'))
  certPath = join(temporary, 'cert.pem')
  keyPath = join(temporary, 'key.pem')
  // A P-256 key and a one-day certificate for 127.0.0.1; a real server gets one from its CA.
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'ignore' })
}
const cert = readFileSync(certPath)
const key = readFileSync(keyPath)
if (temporary !== undefined) rmSync(temporary, { recursive: true })

const server = createServer({ handler: async (frame, ctx) => ctx.connection.send(await frame.buffer()) })
// A failed handshake never reaches the handler: it is reported here, with the peer's address.
server.on('clientError', (err, peer) => console.error(`client ${peer.address}:${peer.port}: ${err.message} (${err.code})`))
const { port } = await server.listen({ host: '127.0.0.1', port: 0, tls: { cert, key } })
console.log(`listening on 127.0.0.1:${port} with TLS`)

// `tls` takes node:tls connect options; `ca` makes the client trust this certificate.
const client = await connect({ host: '127.0.0.1', port, tls: { ca: cert } })
await client.send({ status: 1, message: 'hello over tls' })
for await (const frame of client) {
  console.log(`echoed over TLS: status ${frame.status}, ${Buffer.from(await frame.message()).toString()}`)
  break
}
await client.close()

// `tls: true` trusts only the system's CAs, which never signed this certificate.
try {
  await connect({ host: '127.0.0.1', port, tls: true })
} catch (err) {
  console.log(`an untrusting client: ${err.message} (${err.code})`)
}
await server.close()
