// writeTestCertificate: a fresh test certificate written to PEM files, for a bin's TLS options.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestCertificate } from './certificate.ts'
import { makeTestCertificate } from './certificate.ts'

/** The files `writeTestCertificate` wrote, and their texts. */
export interface TestCertificateFiles extends TestCertificate {
  /** `<dir>/key.pem`: the private key, for `--tls-key`. */
  keyFile: string
  /** `<dir>/cert.pem`: the certificate, for `--tls-cert`. */
  certFile: string
  /** `<dir>/ca.pem`: the same certificate as the authority a client trusts, for `--ca`. */
  caFile: string
}

/**
 * Makes a certificate with `makeTestCertificate` and writes it to `key.pem`, `cert.pem` and
 * `ca.pem` in `dir` (which must exist; the files are replaced if there), for a bin's
 * `--tls-key`, `--tls-cert` and `--ca`.
 * @throws {UsageError} when the openssl binary is not on PATH, or fails
 */
export async function writeTestCertificate(dir: string): Promise<TestCertificateFiles> {
  const certificate = await makeTestCertificate()
  const files = { keyFile: join(dir, 'key.pem'), certFile: join(dir, 'cert.pem'), caFile: join(dir, 'ca.pem') }
  await Promise.all([writeFile(files.keyFile, certificate.key), writeFile(files.certFile, certificate.cert), writeFile(files.caFile, certificate.ca)])
  return { ...certificate, ...files }
}
