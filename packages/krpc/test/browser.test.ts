import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import type net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type * as BrowserClient from '../src/client.browser.ts'
import type { KrpcFile } from '../src/types.ts'
import { createServer } from '../src/server.ts'
import { BROWSER_MODULES, readAll, vectorMethods } from './helpers.ts'

// Debian's chromium, installed by tooling/scripts/ensure-system-tools.mjs; missing, the test fails.
const CHROMIUM = '/usr/bin/chromium'
const krpcDist = fileURLToPath(new URL('../dist/', import.meta.url))
const framingDist = dirname(fileURLToPath(import.meta.resolve('@proto/framing/errors')))

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8">
<script type="importmap">{ "imports": { "@proto/framing/errors": "/framing/errors-entry.js" } }</script>
</head><body>
<input type="file" id="upload">
<script type="module">
  import * as krpc from '/krpc/client.browser.js'
  window.krpc = krpc
  document.body.dataset.ready = 'yes'
</script>
</body></html>`

/** What page.evaluate sees in the page, typed without the DOM library. */
interface PageGlobals {
  krpc: typeof BrowserClient
  document: { getElementById(id: string): { files: ArrayLike<Blob> | null } | null }
}

const served: string[] = []
let httpServer: http.Server
let origin: string
let context: BrowserContext
let page: Page
let userDataDir: string
const pageErrors: string[] = []
const krpcServer = createServer({ handlers: {
  ...vectorMethods(),
  describe: async (f: KrpcFile) => ({ field: f.field, filename: f.filename, mimeType: f.mimeType, text: (await readAll(f)).toString() }),
} })

async function sendFile(res: http.ServerResponse, root: string, path: string): Promise<void> {
  const file = normalize(join(root, path))
  if (!file.startsWith(root) || !file.endsWith('.js')) {
    res.writeHead(404).end()
    return
  }
  served.push(file)
  res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(await readFile(file))
}

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: run node tooling/scripts/ensure-system-tools.mjs`).toBe(true)
  expect(existsSync(join(krpcDist, 'client.browser.js')), 'build the package first (npx tsc -p tsconfig.build.json)').toBe(true)
  // One origin for the page, its modules and KRPC, as a web page served by the same app would be.
  httpServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/') res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE)
    else if (url.pathname.startsWith('/krpc/')) void sendFile(res, krpcDist, url.pathname.slice('/krpc/'.length))
    else if (url.pathname.startsWith('/framing/')) void sendFile(res, `${framingDist}/`, url.pathname.slice('/framing/'.length))
    else if (url.pathname === '/favicon.ico') res.writeHead(404).end()
    else krpcServer.handler(req, res)
  })
  httpServer.listen(0, '127.0.0.1')
  await once(httpServer, 'listening')
  origin = `http://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}`
  userDataDir = await mkdtemp(join(tmpdir(), 'krpc-chromium-'))
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  page = context.pages()[0] ?? await context.newPage()
  page.on('pageerror', (err) => pageErrors.push(err.message))
  await page.goto(`${origin}/`)
  await page.waitForSelector('body[data-ready="yes"]')
}, 60_000)

afterAll(async () => {
  await context?.close()
  if (userDataDir !== undefined) await rm(userDataDir, { recursive: true, force: true })
  httpServer?.closeAllConnections()
  httpServer?.close()
  await krpcServer.close()
})

describe('the browser client in headless Chromium', () => {
  it('calls methods, through the proxy and with GET', async () => {
    const result = await page.evaluate(async () => {
      const { connect } = (globalThis as unknown as PageGlobals).krpc
      const client = await connect({ url: '/rpc' })
      const out = [
        await client.call('echo', ['hello from the page']),
        await client.methods.sub?.hello?.('bob'),
        await client.call('add', [1, 2], { via: 'get' }),
        await client.call('echo', ['h\u00e9llo \u20ac']),
      ]
      await client.close()
      return out
    })
    expect(result).toEqual(['hello from the page', 'hello bob', 3, 'h\u00e9llo \u20ac'])
  })

  it('uploads a file picked in a file input, and Blob, File and Uint8Array inputs', async () => {
    await page.setInputFiles('#upload', { name: 'picked.txt', mimeType: 'text/plain', buffer: Buffer.from('picked in the page\n') })
    const result = await page.evaluate(async () => {
      const { connect, asFile } = (globalThis as unknown as PageGlobals).krpc
      const client = await connect({ url: '/rpc' })
      const picked = (globalThis as unknown as PageGlobals).document.getElementById('upload')?.files?.[0]
      const out = [
        await client.call('upload_info', ['lbl', picked]),
        await client.call('describe', [new Blob(['blob'])]),
        await client.call('describe', [new File(['file'], 'named.csv', { type: 'text/csv' })]),
        await client.call('describe', [new TextEncoder().encode('bytes')]),
        await client.call('describe', [asFile(new Blob(['renamed']), { filename: 'a "b".txt', mimeType: 'text/x-r' })]),
        await client.call('describe', ['__file__:mine'], { files: { mine: new Blob(['named part']) } }),
      ]
      await client.close()
      return out
    })
    expect(result).toEqual([
      { label: 'lbl', type: 'BytesIO', len: 19, content: 'picked in the page\n' },
      { field: '__file__:1', filename: 'blob', mimeType: 'application/octet-stream', text: 'blob' },
      { field: '__file__:1', filename: 'named.csv', mimeType: 'text/csv', text: 'file' },
      { field: '__file__:1', filename: 'blob', mimeType: 'application/octet-stream', text: 'bytes' },
      { field: '__file__:1', filename: 'a %22b%22.txt', mimeType: 'text/x-r', text: 'renamed' },
      { field: '__file__:mine', filename: 'blob', mimeType: 'application/octet-stream', text: 'named part' },
    ])
  })

  it('reads binary results and reports remote errors with their codes', async () => {
    const result = await page.evaluate(async () => {
      const { connect, isBinaryResult, asFile } = (globalThis as unknown as PageGlobals).krpc
      const client = await connect({ url: '/rpc' })
      const binary = await client.call('return_bytes_io')
      const bytes = isBinaryResult(binary) ? [...await binary.bytes()] : null
      const echoed = await client.call('return_file', [new Uint8Array([0, 1, 2, 255])])
      const streamed: number[] = []
      if (isBinaryResult(echoed)) {
        const reader = echoed.stream().getReader()
        for (let step = await reader.read(); !step.done; step = await reader.read()) streamed.push(...step.value)
      }
      const errors: unknown[] = []
      for (const run of [() => client.call('nosuch'), () => client.call('raise_ioerror'), () => client.call('echo', [1n]),
        () => Promise.resolve().then(() => asFile('x' as never))]) {
        try {
          await run()
        } catch (err) {
          const e = err as { name: string; code: string; rpcCode?: number; data?: unknown; status?: number }
          errors.push({ name: e.name, code: e.code, rpcCode: e.rpcCode, data: e.data, status: e.status })
        }
      }
      await client.close()
      return { bytes, streamed, errors }
    })
    expect(result).toEqual({
      bytes: [0, 1, 98, 105, 110, 97, 114, 121, 255],
      streamed: [0, 1, 2, 255],
      errors: [
        { name: 'RemoteError', code: 'ERR_KRPC_REMOTE', rpcCode: -32601, status: 200 },
        { name: 'RemoteError', code: 'ERR_KRPC_REMOTE', rpcCode: -32000, data: 'Error: Ooops!', status: 200 },
        { name: 'KrpcUnserializableError', code: 'ERR_KRPC_UNSERIALIZABLE', rpcCode: -32003 },
        { name: 'UsageError', code: 'ERR_PROTO_USAGE' },
      ],
    })
  })

  it('loaded only the browser modules, and nothing in the page failed', () => {
    const ours = served.filter((file) => file.startsWith(krpcDist)).map((file) => file.slice(krpcDist.length)).sort()
    expect(ours).toEqual(BROWSER_MODULES)
    expect(served.filter((file) => !file.startsWith(krpcDist)).every((file) => file.startsWith(framingDist))).toBe(true)
    expect(pageErrors).toEqual([])
  })
})
