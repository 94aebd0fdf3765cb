// The scale benchmark every @proto server runs, driven from the package's bench/scale.mjs (its
// adapter: startServer, openClient, openIdle). Two measurements, each beside a reference in the
// same run:
//
// - workers: requests/s of the server under node:cluster with one worker and with two, and the
//   same for a raw node:net echo server (the ceiling), under one load generator: a process of
//   its own with `connections` clients and `depth` calls in flight on each, sharing the machine's
//   cores with the servers. Contenders alternate within each repetition; medians decide.
// - idle: what one idle connection costs the server, from its process's RSS and heap after
//   forced collections, before and after `idle` connections opened by a client process, with
//   ws holding as many idle WebSockets as the reference.
//
//   node bench/scale.mjs [--reps 5] [--warmup 2] [--seconds 4] [--connections 16] [--depth 4]
//                        [--idle 10000] [--idle-reps 1] [--parallel 100] [--only workers|idle]
import { execFileSync, fork } from 'node:child_process'
import { once } from 'node:events'
import os from 'node:os'
import process from 'node:process'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'

export { openTcp } from './raw.mjs'

const here = (file) => new URL(file, import.meta.url)
const CEILING = here('./raw.mjs').href
const WS = here('./ws.mjs').href
const KiB = 1024
const MiB = 1024 * 1024

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
const fmt = (x, digits = 0) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const range = (xs, digits = 0) => `${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)}`

/** The next IPC message of `child`; rejects if it exits first. */
function message(child) {
  return new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`${child.spawnargs.slice(1).join(' ')} exited with ${code}`))
    child.once('exit', onExit)
    child.once('message', (value) => {
      child.off('exit', onExit)
      resolve(value)
    })
  })
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGKILL')
  await once(child, 'exit')
}

/**
 * One timed run: the server under `workers` cluster workers, then the load generator against it;
 * the workers' CPU time is read when the timed window starts and when it ends.
 */
async function loadRun(adapterUrl, workers, load, opts) {
  const primary = fork(here('./cluster.mjs'), [adapterUrl, String(workers)], { stdio: 'inherit' })
  try {
    const { port } = await message(primary)
    const args = [adapterUrl, port, load.connections, load.depth, opts.warmup, opts.seconds].map(String)
    const generator = fork(here('./load.mjs'), args, { stdio: 'inherit' })
    const serverCpu = async () => {
      primary.send('cpu')
      return (await message(primary)).cpu
    }
    try {
      await message(generator)
      const cpuStart = await serverCpu()
      const result = await message(generator)
      const cpu = (await serverCpu()) - cpuStart
      return { ...result, server: cpu / result.elapsed, serverPerCall: cpu / result.calls }
    } finally {
      await stop(generator)
    }
  } finally {
    // A primary that died (message() rejected) has nothing left to stop, and no 'exit' to come.
    if (primary.connected) {
      const exited = once(primary, 'exit')
      primary.send('stop')
      await exited
    }
  }
}

async function workersBench(name, adapterUrl, load, opts) {
  const contender = (label, url) => ({ name: label, url, runs: { 1: [], 2: [] }, gains: [] })
  const contenders = [contender('ceiling: raw node:net echo (64 B)', CEILING), contender(name, adapterUrl)]
  for (let rep = 0; rep < opts.reps; rep++) {
    // Alternate both the contender and the worker count that goes first.
    const order = rep % 2 === 0 ? contenders : [...contenders].reverse()
    for (const workers of rep % 2 === 0 ? [1, 2] : [2, 1]) {
      for (const c of order) c.runs[workers].push(await loadRun(c.url, workers, load, opts))
    }
    for (const c of contenders) c.gains.push(c.runs[2][rep].rate / c.runs[1][rep].rate)
    const line = contenders.map((c) => `${c.name} ${fmt(c.runs[1][rep].rate)} → ${fmt(c.runs[2][rep].rate)}`)
    process.stderr.write(`workers ${rep + 1}/${opts.reps}: ${line.join('; ')}; load average ${os.loadavg()[0].toFixed(1)}\n`)
  }
  const of = (runs, field) => runs.map((r) => r[field])
  // On two otherwise idle cores, a server costing S CPU per request under a load generator
  // costing L: one worker reaches min(1/S, 1/L), two reach min(2/S, 1/L, 2/(S + L)).
  const allowed = (runs) => {
    const S = median(of(runs, 'serverPerCall'))
    const L = median(of(runs, 'cpuPerCall'))
    return Math.min(2 / S, 1 / L, 2 / (S + L)) / Math.min(1 / S, 1 / L)
  }
  const ceilingGain = median(contenders[0].gains)
  console.log(`\n### Requests/s under node:cluster, one worker and two (${load.connections} connections × ${load.depth} in flight)\n`)
  console.log(
    '| server | 1 worker: req/s (min–max) | 2 workers: req/s (min–max) | gain 2÷1 (min–max) | gain ÷ ceiling gain | ' +
      'CPU µs per request, server + load generator (1 worker) | gain those costs allow on 2 idle cores | ' +
      'CPU cores, servers + load generator: 1 worker → 2 |',
  )
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
  for (const [i, c] of contenders.entries()) {
    const gain = median(c.gains)
    const perCall = (runs) => `${fmt(median(of(runs, 'serverPerCall')) * 1e6)} + ${fmt(median(of(runs, 'cpuPerCall')) * 1e6)}`
    const cores = (runs) => `${fmt(median(of(runs, 'server')), 2)} + ${fmt(median(of(runs, 'cpu')), 2)}`
    console.log(
      `| ${c.name} | ${fmt(median(of(c.runs[1], 'rate')))} (${range(of(c.runs[1], 'rate'))}) | ` +
        `${fmt(median(of(c.runs[2], 'rate')))} (${range(of(c.runs[2], 'rate'))}) | ${fmt(gain, 2)} (${range(c.gains, 2)}) | ` +
        `${i === 0 ? '1 (ceiling)' : fmt(gain / ceilingGain, 2)} | ${perCall(c.runs[1])} | ${fmt(allowed(c.runs[1]), 2)} | ${cores(c.runs[1])} → ${cores(c.runs[2])} |`,
    )
  }
}

/** One idle measurement: the server alone, then with `count` idle connections, settled. */
async function idleRun(adapterUrl, opts) {
  const server = fork(here('./idle-server.mjs'), [adapterUrl, String(opts.idle)], { stdio: 'inherit', execArgv: ['--expose-gc'] })
  let clients
  try {
    const { port } = await message(server)
    const measure = async () => {
      server.send('measure')
      return message(server)
    }
    await sleep(500)
    const before = await measure()
    const started = performance.now()
    clients = fork(here('./idle-clients.mjs'), [adapterUrl, String(port), String(opts.idle), String(opts.parallel)], { stdio: 'inherit' })
    await message(clients)
    const opened = (performance.now() - started) / 1000
    // Settled: the server counts every connection and its RSS moved less than 0.5% in a second.
    let after = await measure()
    for (let i = 0; i < 60; i++) {
      await sleep(1000)
      const next = await measure()
      const steady = Math.abs(next.rss - after.rss) < after.rss * 0.005
      after = next
      if (steady && (next.connections ?? opts.idle) === opts.idle) break
    }
    if ((after.connections ?? opts.idle) !== opts.idle) throw new Error(`the server holds ${after.connections} connections, not ${opts.idle}`)
    return { before, after, opened }
  } finally {
    if (clients !== undefined) await stop(clients)
    await stop(server)
  }
}

async function idleBench(name, adapterUrl, opts) {
  const contenders = [
    { name, url: adapterUrl, runs: [] },
    { name: 'reference: ws WebSocketServer', url: WS, runs: [] },
  ]
  for (let rep = 0; rep < opts.idleReps; rep++) {
    for (const c of rep % 2 === 0 ? contenders : [...contenders].reverse()) c.runs.push(await idleRun(c.url, opts))
    process.stderr.write(`idle ${rep + 1}/${opts.idleReps} done\n`)
  }
  const per = (run, field) => (run.after[field] - run.before[field]) / opts.idle / KiB
  console.log(`\n### Memory of ${fmt(opts.idle)} idle connections (server process, after forced collections)\n`)
  console.log('| server | RSS before → after | RSS KiB per connection | heap KiB per connection | external + array buffers KiB per connection | time to open them |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const c of contenders) {
    const rssBefore = median(c.runs.map((r) => r.before.rss)) / MiB
    const rssAfter = median(c.runs.map((r) => r.after.rss)) / MiB
    const outside = c.runs.map((r) => per(r, 'external') + per(r, 'arrayBuffers'))
    console.log(
      `| ${c.name} | ${fmt(rssBefore, 1)} → ${fmt(rssAfter, 1)} MiB | ${fmt(median(c.runs.map((r) => per(r, 'rss'))), 2)} | ` +
        `${fmt(median(c.runs.map((r) => per(r, 'heapUsed'))), 2)} | ${fmt(median(outside), 2)} | ${fmt(median(c.runs.map((r) => r.opened)), 1)} s |`,
    )
  }
}

/**
 * Runs both measurements for the adapter module at `adapterUrl` and prints them as Markdown.
 * The adapter exports `startServer({ port, maxConnections })` → `{ port, connections() }`,
 * `openClient({ port })` → `{ call() }` and optionally `openIdle({ port })` (a bare TCP
 * connection otherwise); its `connections()` may return undefined where the server does not
 * count them. `load` (`{ connections, depth }`) replaces the command line's.
 */
export async function runScaleBench(name, adapterUrl, { load } = {}) {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      seconds: { type: 'string', default: '4' },
      connections: { type: 'string', default: '16' },
      depth: { type: 'string', default: '4' },
      idle: { type: 'string', default: '10000' },
      'idle-reps': { type: 'string', default: '1' },
      parallel: { type: 'string', default: '100' },
      only: { type: 'string' },
    },
  })
  if (values.only !== undefined && values.only !== 'workers' && values.only !== 'idle') {
    throw new Error(`--only takes workers or idle, not ${values.only}`)
  }
  const opts = {
    reps: Number(values.reps),
    warmup: Number(values.warmup),
    seconds: Number(values.seconds),
    idle: Number(values.idle),
    idleReps: Number(values['idle-reps']),
    parallel: Number(values.parallel),
  }
  load ??= { connections: Number(values.connections), depth: Number(values.depth) }
  const fileLimit = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString())
  if (opts.idle + 256 > fileLimit) throw new Error(`${opts.idle} connections need more than the file limit of ${fileLimit}`)
  console.log(`## ${name}: scale\n`)
  console.log(`node ${process.version}, nproc ${os.availableParallelism()} (${os.cpus()[0]?.model ?? 'unknown'}), ${new Date().toISOString()}`)
  console.log(`load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}; file limit ${fileLimit}`)
  if (values.only !== 'idle') {
    console.log(`workers: ${opts.reps} repetitions, ${opts.warmup} s warm-up then ${opts.seconds} s timed per run, contenders alternating`)
    await workersBench(name, adapterUrl, load, opts)
  }
  if (values.only !== 'workers') await idleBench(name, adapterUrl, opts)
  console.log(`\nload average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`)
}
