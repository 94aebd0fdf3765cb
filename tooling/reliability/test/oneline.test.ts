// oneline serves one client at a time and queues the rest, so "a well-behaved client at the same
// time" means: the probe waits in the queue while the attacker is active and is served once the
// server has closed the attacker. In the connection storm the probe is the active client.
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, createServer, DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_QUEUE, demoHandler, ErrorCode } from '@proto/oneline'
import type { OnelineServer, OnelineServerOptions } from '@proto/oneline'
import {
  ClientErrors,
  closed,
  connectRaw,
  dribble,
  ended,
  Flood,
  MemoryWatch,
  MiB,
  openMany,
  Received,
  reset,
  segmented,
  turnsUntilQuiet,
} from './helpers.ts'

// Memory bounds, in bytes of growth over a collected baseline: "held" is V8 heap in use plus
// ArrayBuffers, read after a full gc; RSS is resident memory. Each bound is about four times the
// worst of three readings taken with RELIABILITY_REPORT=1 (Node 20.20, whole suite on 2 shared
// cores), and well below what the attack costs a server without the limit: every flood offers
// 64 MiB. Both ends of every socket live in this process, so the storm bounds count both.
/** Endless line; worst reading 0.26 MiB (maxLineBytes is 64 KiB). */
const ENDLESS_LINE_HELD = 4 * MiB
/** Pipelined `count 10000` from a peer that never reads (answers would be ~300 GB); worst 2.1 MiB. */
const FLOOD_HELD = 8 * MiB
/** 1,000 connections: 1 active, 16 queued, the rest refused; worst 1.1 MiB held, 11.4 MiB RSS. */
const STORM_HELD = 8 * MiB
const STORM_RSS = 48 * MiB
const STORM_CONNECTIONS = 1_000
/** Connect-and-reset rounds, many times maxQueue; worst reading 0.12 MiB held. */
const RESET_ROUNDS = 1_000
const RESET_LOOP_HELD = 0.5 * MiB
/**
 * The 1-byte-segment attacks run with maxLineBytes at 16 KiB, a quarter of the default, so that
 * sending every byte in a segment of its own takes seconds rather than a minute; memory follows
 * the bytes held, so the readings at the default are four times these.
 */
const SEGMENTED_LIMIT = 16_384
/**
 * One unfinished line of SEGMENTED_LIMIT sent one byte per TCP segment by the active client;
 * worst reading 0.40 MiB, most of it the connections' own. When framing's LineDecoder kept each
 * segment as it came, the same line held 3.2 MiB (12.5 MiB at the default limit).
 */
const SEGMENTED_LINE_HELD = 1.5 * MiB
/**
 * maxQueue waiting clients each sending SEGMENTED_LIMIT one byte per segment while the probe is
 * served (256 KiB in all); worst reading 0.37 MiB. Kept as they came, the segments took 194.5 MiB
 * at the default limit; copied into one buffer per client, 1.1 MiB.
 */
const SEGMENTED_QUEUE_HELD = 1.5 * MiB
/** Small enough to keep the suite fast, large enough that a dribbled byte is never late. */
const IDLE_TIMEOUT = 300
/** The probe may wait in the queue while an attack runs; every attack here ends well before. */
const PROBE_TIMEOUT = 20_000
const ATTACK_BYTES = 64 * MiB

let server: OnelineServer | undefined
let port = 0
let errors: ClientErrors

async function start(options: OnelineServerOptions = {}): Promise<OnelineServer> {
  const created = createServer({ handler: demoHandler, allowShutdown: false, ...options })
  server = created
  errors = new ClientErrors(created)
  ;({ port } = await created.listen({ host: '127.0.0.1', port: 0 }))
  return created
}

/** A well-behaved client: connects (ping/pong), asks for one echo, disconnects. */
async function probe(): Promise<void> {
  const client = await connect({ host: '127.0.0.1', port, timeout: PROBE_TIMEOUT })
  expect(await client.request('echo probe')).toEqual(['probe'])
  await client.close()
}

/** A raw connection that the server has made its active client. */
async function activeAttacker(s: OnelineServer) {
  const active = once(s, 'active')
  const socket = await connectRaw(port)
  await active
  return socket
}

/** Resolves once `count` connections wait in the queue; each one is announced as it is admitted. */
function queuedUp(count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if ((server?.queued ?? 0) < count) return
      server?.off('connection', check)
      resolve()
    }
    server?.on('connection', check)
    check()
  })
}

afterEach(async () => {
  await server?.close({ signal: AbortSignal.abort() })
  server = undefined
})

describe('oneline under attack', () => {
  it('cuts an endless line at maxLineBytes and serves the queued client', async () => {
    const s = await start()
    const attacker = await activeAttacker(s)
    const watch = new MemoryWatch('oneline endless line')
    const flood = new Flood(attacker, Buffer.alloc(65_536, 'a'), ATTACK_BYTES, watch)
    const probed = probe()
    await errors.until(ErrorCode.LINE_TOO_LONG)
    await closed(attacker)
    await probed
    const growth = watch.settle()
    expect(flood.flushed).toBeLessThan(ATTACK_BYTES)
    expect(growth.peakHeld).toBeLessThan(ENDLESS_LINE_HELD)
    expect(errors.codes()).toEqual([ErrorCode.LINE_TOO_LONG])
  })

  it('takes a line of exactly maxLineBytes and refuses one byte more, with the commands after it', async () => {
    const s = await start()
    const fits = await activeAttacker(s)
    const fitsReceived = new Received(fits)
    fits.write(`echo ${'b'.repeat(DEFAULT_MAX_LINE_BYTES - 'echo '.length)}\n`)
    expect((await fitsReceived.until((all) => all.includes(0x0a))).length).toBe(DEFAULT_MAX_LINE_BYTES - 'echo '.length + 1)
    fits.end('disconnect\n')
    await closed(fits)

    const over = await activeAttacker(s)
    const overReceived = new Received(over)
    over.write(`echo ${'b'.repeat(DEFAULT_MAX_LINE_BYTES - 'echo '.length + 1)}\necho after\n`)
    await errors.until(ErrorCode.LINE_TOO_LONG)
    await ended(over)
    expect(overReceived.length).toBe(0)
    await probe()
  })

  it('answers a slowloris while its bytes come and closes it with IDLE_TIMEOUT once they stop', async () => {
    const s = await start({ limits: { idleTimeout: IDLE_TIMEOUT } })
    const attacker = await activeAttacker(s)
    const received = new Received(attacker)
    await dribble(attacker, Buffer.from('echo slow\n'))
    await received.untilIncludes('slow\n')
    const probed = probe()
    // Half a command, then silence.
    await dribble(attacker, Buffer.from('echo never'))
    await errors.until(ErrorCode.IDLE_TIMEOUT)
    await closed(attacker)
    await probed
    expect(received.text()).toBe('slow\n')
    expect(errors.codes()).toEqual([ErrorCode.IDLE_TIMEOUT])
  })

  it('closes a client that connects and says nothing with IDLE_TIMEOUT', async () => {
    const s = await start({ limits: { idleTimeout: IDLE_TIMEOUT } })
    const attacker = await activeAttacker(s)
    const probed = probe()
    await errors.until(ErrorCode.IDLE_TIMEOUT)
    await closed(attacker)
    await probed
  })

  it('hands over to the queued client after a reset in the middle of a command', async () => {
    const s = await start()
    const attacker = await activeAttacker(s)
    const received = new Received(attacker)
    const probed = probe()
    // One write, so the half command is read with the whole one: once `one` is back, the
    // server holds the half, and the reset cannot overtake it and look like a FIN.
    attacker.write('echo one\necho ha')
    await received.untilIncludes('one\n')
    reset(attacker)
    await errors.until(ErrorCode.CLOSED)
    await probed
    expect(errors.codes()).toEqual([ErrorCode.CLOSED])
  })

  it('answers the complete commands before a FIN in the middle of one, drops the rest and moves on', async () => {
    const s = await start()
    const attacker = await activeAttacker(s)
    const received = new Received(attacker)
    const probed = probe()
    attacker.end('echo one\necho tw')
    await ended(attacker)
    await probed
    expect(received.text()).toBe('one\n')
    // A FIN is an orderly way to leave: nothing to report.
    expect(errors.all).toEqual([])
  })

  it(`keeps serving its active client while ${STORM_CONNECTIONS} connections arrive, refusing those past the queue with BUSY`, async () => {
    await start()
    const client = await connect({ host: '127.0.0.1', port, timeout: PROBE_TIMEOUT })
    const watch = new MemoryWatch('oneline connection storm')
    const storm = openMany(port, STORM_CONNECTIONS)
    // The active client is answered while the storm is under way and after it.
    expect(await client.request('echo during')).toEqual(['during'])
    const sockets = await storm
    await errors.until(ErrorCode.BUSY, STORM_CONNECTIONS - DEFAULT_MAX_QUEUE)
    expect(await client.request('echo after')).toEqual(['after'])
    expect(server?.queued).toBe(DEFAULT_MAX_QUEUE)
    const growth = watch.settle()
    expect(growth.peakHeld).toBeLessThan(STORM_HELD)
    expect(growth.peakRss).toBeLessThan(STORM_RSS)
    expect(errors.codes()).toEqual([ErrorCode.BUSY])
    await client.close()
    for (const socket of sockets) socket.destroy()
  })

  it(`drops a queued connection that resets at once, so ${RESET_ROUNDS} connect-and-resets never fill the queue`, async () => {
    await start()
    const client = await connect({ host: '127.0.0.1', port, timeout: PROBE_TIMEOUT })
    const watch = new MemoryWatch('oneline connect-and-reset loop')
    let probed: Promise<void> | undefined
    for (let round = 0; round < RESET_ROUNDS; round++) {
      // Each one waits in the queue behind the active client, then leaves with a reset.
      reset(await connectRaw(port))
      // Halfway, after many times maxQueue departures, the probe joins the queue.
      if (round === RESET_ROUNDS / 2) probed = probe()
    }
    const growth = watch.settle()
    expect(await client.request('echo after')).toEqual(['after'])
    await client.close()
    await probed
    // Nobody was refused: each reset freed its place.
    expect(errors.all).toEqual([])
    expect(growth.peakHeld).toBeLessThan(RESET_LOOP_HELD)
  })

  it('stops reading a peer that pipelines commands and never reads, holding bounded memory', async () => {
    const s = await start()
    const attacker = await activeAttacker(s)
    // The attacker never reads: its socket stays paused, so the replies back up to the server.
    attacker.pause()
    const commands = Buffer.from('count 10000\n'.repeat(Math.floor(65_536 / 'count 10000\n'.length)))
    const watch = new MemoryWatch('oneline flood, never reads')
    const flood = new Flood(attacker, commands, ATTACK_BYTES, watch)
    await turnsUntilQuiet(() => flood.flushed)
    const growth = watch.settle()
    expect(flood.flushed).toBeLessThan(ATTACK_BYTES)
    expect(growth.peakHeld).toBeLessThan(FLOOD_HELD)
    // One client at a time: the probe gets its turn when the attacker goes.
    const probed = probe()
    reset(attacker)
    await probed
  })

  it('holds an unfinished line sent one byte per segment in bounded memory, then cuts it at maxLineBytes', async () => {
    const s = await start({ limits: { maxLineBytes: SEGMENTED_LIMIT } })
    const attacker = await activeAttacker(s)
    const watch = new MemoryWatch('oneline line in 1-byte segments, active client')
    const probed = probe()
    await segmented(attacker, Buffer.alloc(SEGMENTED_LIMIT, 'a'), { watch })
    const growth = watch.settle()
    expect(errors.all).toEqual([])
    // One byte more is over the limit: the attacker goes, and the waiting probe is served.
    attacker.write('a')
    await errors.until(ErrorCode.LINE_TOO_LONG)
    await closed(attacker)
    await probed
    expect(growth.held).toBeLessThan(SEGMENTED_LINE_HELD)
    expect(errors.codes()).toEqual([ErrorCode.LINE_TOO_LONG])
  }, 60_000)

  it(`holds what ${DEFAULT_MAX_QUEUE} waiting clients send one byte per segment in bounded memory, serving the active client meanwhile`, async () => {
    await start({ limits: { maxLineBytes: SEGMENTED_LIMIT } })
    const client = await connect({ host: '127.0.0.1', port, timeout: PROBE_TIMEOUT })
    const attackers = await openMany(port, DEFAULT_MAX_QUEUE)
    await queuedUp(DEFAULT_MAX_QUEUE)
    const watch = new MemoryWatch('oneline queued clients in 1-byte segments')
    const attack = segmented(attackers, Buffer.alloc(SEGMENTED_LIMIT, 'a'), { watch })
    expect(await client.request('echo during')).toEqual(['during'])
    await attack
    const growth = watch.settle()
    expect(await client.request('echo after')).toEqual(['after'])
    expect(server?.queued).toBe(DEFAULT_MAX_QUEUE)
    expect(errors.all).toEqual([])
    expect(growth.held).toBeLessThan(SEGMENTED_QUEUE_HELD)
    for (const socket of attackers) reset(socket)
    await client.close()
  }, 60_000)
})
