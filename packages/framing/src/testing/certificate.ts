// A self-signed certificate made at test time with the openssl binary.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { UsageError } from '../errors.ts'

/** PEM texts of a self-signed certificate, for `tls` options on both ends. */
export interface TestCertificate {
  /** The private key (P-256), for the server. */
  key: string
  /** The certificate, for the server. */
  cert: string
  /** The same certificate, as the one authority a client trusts. */
  ca: string
}

/**
 * A fresh self-signed certificate for `localhost`, `127.0.0.1` and `::1`, valid for two days,
 * made by running `openssl` in a temporary directory (removed afterwards). Tests make their
 * certificates this way rather than keeping keys in the repository.
 * @throws {UsageError} when the openssl binary is not on PATH, or fails
 */
export async function makeTestCertificate(): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'proto-cert-'))
  try {
    const keyFile = join(dir, 'key.pem')
    const certFile = join(dir, 'cert.pem')
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    ])
    const [key, cert] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')])
    return { key, cert, ca: cert }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err === null) return resolve()
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new UsageError(`makeTestCertificate() needs the ${command} binary on PATH (apt-get install ${command})`, { cause: err }))
      }
      reject(new UsageError(`${command} failed: ${stderr.trim() || err.message}`, { cause: err }))
    })
  })
}
