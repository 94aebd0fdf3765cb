import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import * as index from '../src/index.ts'
import * as nodeClient from '../src/client.ts'
import * as browserClient from '../src/client.browser.ts'
import { resolveLimits } from '../src/limits.ts'
import { BROWSER_MODULES } from './helpers.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

/** Every module a file imports at run time, followed through relative imports. */
function importGraph(entry: string): { files: string[]; bare: string[] } {
  const files: string[] = []
  const bare = new Set<string>()
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.shift() ?? ''
    if (files.includes(file)) continue
    files.push(file)
    const source = readFileSync(file, 'utf8')
    for (const match of source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) {
      const spec = match[1] ?? match[2] ?? match[3] ?? ''
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec))
      else bare.add(spec)
    }
  }
  return { files, bare: [...bare].sort() }
}

describe('the public surface', () => {
  it('index exports the spec\'s names', () => {
    for (const name of ['createServer', 'currentCall', 'connect', 'asFile', 'isBinaryResult', 'encodeJson', 'decodeCall', 'RemoteError',
      'KrpcError', 'ErrorCode', 'DEFAULT_PORT']) {
      expect(index, name).toHaveProperty(name)
    }
    expect(index.DEFAULT_PORT).toBe(8080)
    expect(Object.values(index.ErrorCode).sort()).toEqual([
      'ERR_KRPC_BAD_REQUEST', 'ERR_KRPC_BAD_RESPONSE', 'ERR_KRPC_BODY_TIMEOUT', 'ERR_KRPC_CLOSED', 'ERR_KRPC_CONNECT',
      'ERR_KRPC_FIELD_TOO_LARGE', 'ERR_KRPC_FILE_SIZE_MISMATCH', 'ERR_KRPC_FILE_TOO_LARGE', 'ERR_KRPC_HTTP_STATUS', 'ERR_KRPC_LISTEN',
      'ERR_KRPC_PROXY_HEADER', 'ERR_KRPC_REMOTE', 'ERR_KRPC_RESULT_TOO_LARGE', 'ERR_KRPC_TIMEOUT', 'ERR_KRPC_TLS_HANDSHAKE',
      'ERR_KRPC_TOO_MANY_CONNECTIONS', 'ERR_KRPC_TOO_MANY_PARTS', 'ERR_KRPC_TRUNCATED', 'ERR_KRPC_UNSERIALIZABLE',
    ])
    expect(new index.RemoteError(-1, 'm', 500)).toBeInstanceOf(index.KrpcError)
  })

  it('./client has the same names in Node and in browsers', () => {
    expect(Object.keys(browserClient).sort()).toEqual(Object.keys(nodeClient).sort())
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> }
    expect(Object.keys(pkg.exports['./client'] ?? {})).toEqual(['types', 'browser', 'default'])
    expect(pkg.exports['./client']).toEqual({ types: './dist/client.d.ts', browser: './dist/client.browser.js', default: './dist/client.js' })
  })

  it('the browser build of ./client loads no node: module and nothing but @proto/framing/errors', () => {
    const entry = join(root, 'dist', 'client.browser.js')
    expect(existsSync(entry), 'build the package first (npx tsc -p tsconfig.build.json)').toBe(true)
    const { files, bare } = importGraph(entry)
    expect(bare).toEqual(['@proto/framing/errors'])
    expect(files.map((file) => file.slice(join(root, 'dist').length + 1)).sort()).toEqual(BROWSER_MODULES)
    const code = (file: string): string => readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
    for (const file of files) expect(code(file), file).not.toMatch(/\bBuffer\b|['"]node:/)
    const framing = importGraph(fileURLToPath(import.meta.resolve('@proto/framing/errors')))
    expect(framing.bare).toEqual([])
  })

  it('the Node client and the server reach their dependencies only', () => {
    const { bare } = importGraph(join(root, 'dist', 'index.js'))
    expect(bare.filter((spec) => !spec.startsWith('node:'))).toEqual(['@proto/framing', '@proto/framing/errors', 'busboy'])
  })
})

describe('README', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')

  it('names every error code, server option and limit the code has', () => {
    for (const code of Object.values(index.ErrorCode)) expect(readme, code).toContain(`\`${code}\``)
    for (const option of ['handlers', 'preMethodHook', 'limits', 'exposeErrors', 'tmpDir']) expect(readme, option).toContain(`\`${option}`)
    for (const limit of Object.keys(resolveLimits())) expect(readme, limit).toContain(`\`${limit}\``)
  })

  it('uses the names the code uses, not the ones it had before', () => {
    for (const old of ['register(', 'methods: {', 'KrpcClientOptions', '`peer`', 'DOMException']) expect(readme, old).not.toContain(old)
  })
})
