// The browser client: a web page (examples/browser/) that calls methods, uploads files and reads a
// binary reply with the browser build of @proto/krpc/client, served with KRPC from one origin.
// Run as it is, it starts a headless Chromium on the page (BROWSER names the binary; `chromium`
// on PATH by default), prints what the page reports, and exits. With --open it only serves:
// open the address it prints in any browser, pick files to upload, and stop it with Ctrl-C.
//
//   node examples/browser.mjs                                   # needs Chromium or Chrome
//   BROWSER=google-chrome node examples/browser.mjs
//   PORT=8080 node examples/browser.mjs --open                  # serves until Ctrl-C
//
// Prints:
//   serving http://127.0.0.1:<port>/
//   page: add(2, 3) = 5
//   page: hello, browser
//   page: uploaded made-in-the-page.bin: 1048576 bytes, sha256 matches
//   page: binary reply: 3,2,1
//   page: nosuch: Method not found. (ERR_KRPC_REMOTE, -32601)
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createServer } from '@proto/krpc'

const open = process.argv.includes('--open')
const page = fileURLToPath(new URL('browser/', import.meta.url))
// The built modules the page imports: krpc's browser build and the part of framing it uses.
const roots = {
  '/modules/krpc/': dirname(fileURLToPath(import.meta.resolve('@proto/krpc/client'))),
  '/modules/framing/': dirname(fileURLToPath(import.meta.resolve('@proto/framing/errors'))),
  '/': page,
}
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' }

let reported
const pageReported = new Promise((resolve) => (reported = resolve))
const krpc = createServer({
  handlers: {
    add: (a, b) => a + b,
    greet: { hello: (name) => `hello, ${name}` },
    upload: async (file) => {
      const hash = createHash('sha256')
      let size = 0
      for await (const chunk of file) {
        size += chunk.length
        hash.update(chunk)
      }
      return { name: file.filename, size, sha256: hash.digest('hex') }
    },
    reverse: async (file) => {
      const chunks = []
      for await (const chunk of file) chunks.push(chunk)
      return Buffer.concat(chunks).reverse()
    },
    report: (lines) => {
      for (const line of lines) console.log(`page: ${line}`)
      reported()
    },
  },
})

// One origin for the page, its modules and KRPC (at /rpc; any path the files do not take works).
const http = createHttpServer((req, res) => {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost')
  if (req.method === 'POST' || pathname === '/rpc') return krpc.handler(req, res)
  const prefix = Object.keys(roots).find((root) => pathname.startsWith(root))
  const root = roots[prefix]
  const file = normalize(join(root, pathname === '/' ? 'index.html' : pathname.slice(prefix.length)))
  if (!file.startsWith(root.endsWith(sep) ? root : root + sep) || !(extname(file) in TYPES)) {
    return res.writeHead(404).end()
  }
  try {
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] }).end(readFileSync(file))
  } catch {
    console.error(`not found: ${pathname}`)
    res.writeHead(404).end()
  }
})
http.listen(Number(process.env.PORT ?? 0), '127.0.0.1')
await once(http, 'listening')
const url = `http://127.0.0.1:${http.address().port}/`
console.log(`serving ${url}`)

const stop = async () => {
  http.close()
  http.closeIdleConnections()
  await krpc.close()
}
if (open) {
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
} else {
  // A headless browser in a profile of its own, removed afterwards.
  const profile = mkdtempSync(join(tmpdir(), 'krpc-browser-'))
  const browser = spawn(process.env.BROWSER ?? 'chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, url,
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  let stderr = ''
  browser.stderr.on('data', (chunk) => (stderr += chunk))
  const exited = new Promise((resolve) => browser.once('exit', (code, signal) => resolve([code, signal])))
  const failed = new Promise((resolve) => {
    browser.once('error', (err) => resolve(`cannot start ${browser.spawnfile}: ${err.message}; set BROWSER, or use --open`))
    void exited.then(([code, signal]) => resolve(`the browser exited (${signal ?? code}) before the page reported\n${stderr}`))
    setTimeout(() => resolve(`the page did not report within 30 s\n${stderr}`), 30_000).unref()
  })
  const problem = await Promise.race([pageReported, failed])
  if (problem !== undefined) {
    console.error(problem)
    process.exitCode = 1
  }
  if (browser.exitCode === null && browser.signalCode === null && browser.pid !== undefined) {
    // The whole process group: Chromium's helper processes write to the profile too.
    process.kill(-browser.pid)
    await exited
  }
  // Helpers may still be finishing a write as the browser exits: retry.
  rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
  await stop()
}
