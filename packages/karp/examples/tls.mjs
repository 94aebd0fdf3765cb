// karp over TLS: the server gets a certificate and key, the client trusts that certificate and
// checks that it names 127.0.0.1. Without arguments it makes a self-signed certificate for
// 127.0.0.1 with `openssl` in a temporary directory; pass CERT and KEY paths (PEM) to use your own.
//
//   node examples/tls.mjs                         # needs openssl on PATH
//   node examples/tls.mjs cert.pem key.pem        # a certificate valid for 127.0.0.1
//
// Prints:
//   listening on 127.0.0.1:<port> with TLS
//   reply over TLS: HELLO OVER TLS
//   an untrusting client: cannot connect to 127.0.0.1:<port>: self-signed certificate (ERR_KARP_CONNECT)
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from '@proto/karp'

let [certPath, keyPath] = process.argv.slice(2)
let temporary
if (certPath === undefined || keyPath === undefined) {
  temporary = mkdtempSync(join(tmpdir(), 'karp-tls-'))
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

const server = createServer({ handlers: { upper: (request) => request.text.toUpperCase() } })
// A failed handshake never reaches the handlers: it is reported here, with the peer's address
// (a bad line comes with its connection instead, whose `remote` is the peer).
server.on('clientError', (err, peer) => {
  const from = peer.remote ?? peer
  console.error(`client ${from.address}:${from.port}: ${err.message} (${err.code})`)
})
const { port } = await server.listen({ host: '127.0.0.1', port: 0, tls: { cert, key } })
console.log(`listening on 127.0.0.1:${port} with TLS`)

// `tls` takes node:tls connect options; `ca` makes the client trust this certificate.
const client = await connect({ host: '127.0.0.1', port, tls: { ca: cert } })
const reply = await client.request('upper', 'hello over tls')
console.log(`reply over TLS: ${reply.text()}`)
await client.close()

// `tls: true` trusts only the system's CAs, which never signed this certificate.
try {
  await connect({ host: '127.0.0.1', port, tls: true })
} catch (err) {
  console.log(`an untrusting client: ${err.message} (${err.code})`)
}
await server.close()
