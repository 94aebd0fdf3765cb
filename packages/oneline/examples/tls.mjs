// oneline over TLS. Give it a certificate and its key (`node examples/tls.mjs cert.pem key.pem`),
// or it makes a self-signed one for 127.0.0.1 with the openssl binary in a temporary directory.
// The client trusts that certificate as its CA, so the connection is verified, not merely
// encrypted.
//
// Prints:
//   TLS server on 127.0.0.1:<port>
//   reply: you said hello over TLS
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from '@proto/oneline'

function selfSigned() {
  const dir = mkdtempSync(join(tmpdir(), 'oneline-tls-'))
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ], { stdio: 'ignore' })
    return { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const [certFile, keyFile] = process.argv.slice(2)
const { cert, key } = certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : selfSigned()

const server = createServer({ handler: (command) => `you said ${command}` })
const { host, port } = await server.listen({ host: '127.0.0.1', port: 0, tls: { cert, key } })
console.log(`TLS server on ${host}:${port}`)

const client = await connect({ host, port, tls: { ca: cert } })
const [reply] = await client.request('hello over TLS')
console.log(`reply: ${reply}`)
await client.close()
await server.close()
