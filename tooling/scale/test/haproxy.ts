// HAProxy on 127.0.0.1 in front of the backends: its configuration written to a temporary
// directory, the process in a group of its own, and readiness found by connecting.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import net from 'node:net'
import { join } from 'node:path'
import { defer, temporaryDirectory } from './cleanup.ts'
import { haproxyBinary } from './environment.ts'

/** How long HAProxy may take to bind its ports before the test says so. */
const READY_WAIT = 15_000
/** Between two connection attempts while HAProxy starts. */
const RETRY_EVERY = 25

/** `tcp` forwards bytes; `http` parses each request and balances it (krpc). */
export type BalancerMode = 'tcp' | 'http'

/** A running HAProxy. */
export interface Balancer {
  /** The frontend the clients connect to, on 127.0.0.1. */
  readonly port: number
  /** What HAProxy wrote on stderr so far, to explain a failure. */
  readonly log: () => string
}

/** A port free on 127.0.0.1 now, for HAProxy to bind (it takes no port 0 that it could report). */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/**
 * The configuration: one frontend on `port`, round robin over the backends, each sent a PROXY
 * protocol v2 header. A connection refused by a backend (one that has closed) is retried on the
 * other, which is what a balancer in front of servers that come and go is set up to do. A second
 * frontend answers `/ready` itself, so readiness is probed without reaching a backend.
 */
export function haproxyConfig(mode: BalancerMode, port: number, readyPort: number, backends: readonly number[]): string {
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    `  mode ${mode}`,
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  retries 3',
    '  option redispatch 1',
    'frontend ready',
    '  mode http',
    `  bind 127.0.0.1:${readyPort}`,
    '  monitor-uri /ready',
    'frontend clients',
    `  bind 127.0.0.1:${port}`,
    '  default_backend servers',
    'backend servers',
    '  balance roundrobin',
    ...backends.map((backend, i) => `  server s${i} 127.0.0.1:${backend} send-proxy-v2`),
    '',
  ].join('\n')
}

/** Starts HAProxy in front of `backends` (ports on 127.0.0.1); resolves once its frontend accepts. */
export async function startBalancer(mode: BalancerMode, backends: readonly number[]): Promise<Balancer> {
  const haproxy = haproxyBinary()
  const dir = await temporaryDirectory('proto-scale-')
  const [port, readyPort] = [await freePort(), await freePort()]
  const config = join(dir, 'haproxy.cfg')
  await writeFile(config, haproxyConfig(mode, port, readyPort, backends))
  // -db: in the foreground, not a daemon, so the process is ours to end.
  const child = spawn(haproxy, ['-db', '-f', config], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    log = (log + chunk).slice(-16_384)
  })
  let exited = false
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true
      resolve()
    })
    child.once('error', (err) => {
      log += `\n${err.message}`
      exited = true
      resolve()
    })
  })
  defer(async () => {
    if (exited || child.pid === undefined) return
    process.kill(-child.pid, 'SIGKILL')
    await exit
  })
  const deadline = Date.now() + READY_WAIT
  for (;;) {
    if (exited) throw new Error(`haproxy exited before it was ready:\n${log}`)
    if (await accepts(readyPort)) return { port, log: () => log }
    if (Date.now() > deadline) throw new Error(`haproxy did not accept on 127.0.0.1:${readyPort} within ${READY_WAIT} ms:\n${log}`)
    await new Promise((resolve) => setTimeout(resolve, RETRY_EVERY))
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
