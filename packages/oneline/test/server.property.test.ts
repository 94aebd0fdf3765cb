import { splitAt } from '@proto/framing/testing'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from '../src/client.ts'
import type { OnelineClient } from '../src/client.ts'
import { demoHandler } from '../src/demo.ts'
import type { OnelineHandler } from '../src/types.ts'
import { numRuns, Resources } from './helpers.ts'

const res = new Resources()
afterAll(() => res.close())

const BUILT_INS = new Set(['ping', 'disconnect', 'shutdown'])

/** Raw command bytes: anything but LF, and not a built-in. */
const command = fc
  .uint8Array({ maxLength: 24 })
  .map((bytes) => Buffer.from(bytes.filter((b) => b !== 0x0a)))
  .filter((bytes) => !BUILT_INS.has(bytes.toString('latin1')))

describe('any chunking reaches the handler as the same commands', () => {
  let port = 0
  let received: Buffer[] = []
  beforeAll(async () => {
    ;({ port } = await res.server({
      handler: (_command, ctx) => {
        received.push(Buffer.from(ctx.raw))
      },
    }))
  })

  it('holds for random commands in random chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (commands, cuts) => {
          received = []
          const bytes = Buffer.concat(commands.flatMap((c) => [c, Buffer.from('\n')]))
          const c = await res.socket(port)
          for (const chunk of splitAt(bytes, cuts.map((cut) => cut % (bytes.length + 1)).sort((a, b) => a - b))) c.write(chunk)
          c.socket.end()
          // The server answers nothing and closes after the last complete command.
          expect(await c.rest()).toHaveLength(0)
          expect(received).toEqual(commands)
        },
      ),
      { numRuns },
    )
  })
})

describe('pipelined requests', () => {
  let client: OnelineClient
  beforeAll(async () => {
    const generate: OnelineHandler = (text, ctx) => {
      const [, id, n] = /^gen (\d+) (\d+)$/.exec(text) ?? []
      if (id === undefined || n === undefined) return demoHandler(text, ctx)
      return Array.from({ length: Number(n) }, (_, i) => `${id}.${i}`)
    }
    const { port } = await res.server({ handler: generate })
    client = await connect({ port })
  })

  it('keep command order', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 16 }).filter((s) => !s.includes('\n'))
    const request = fc.oneof(
      text.map((s) => ({ command: `echo ${s}`, lines: [s] })),
      fc.nat({ max: 6 }).map((n) => ({ command: `count ${n}`, lines: Array.from({ length: n }, (_, i) => String(i + 1)) })),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(request, { maxLength: 10 }), async (requests) => {
        const replies = await Promise.all(requests.map((r) => client.request(r.command, { lines: r.lines.length })))
        expect(replies).toEqual(requests.map((r) => r.lines))
      }),
      { numRuns },
    )
  })

  it('stay in step around requests given up before their lines came', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ n: fc.nat({ max: 4 }), abort: fc.boolean() }), { maxLength: 10 }), async (plan) => {
        const reason = new Error('given up')
        const calls = plan.map(({ n, abort }, id) => {
          const controller = new AbortController()
          const call = client.request(`gen ${id} ${n}`, { lines: n, signal: controller.signal })
          if (abort) controller.abort(reason)
          return call.then(
            (lines) => ({ lines }),
            (err: unknown) => ({ err }),
          )
        })
        const results = await Promise.all(calls)
        expect(results).toEqual(
          plan.map(({ n, abort }, id) => (abort ? { err: reason } : { lines: Array.from({ length: n }, (_, i) => `${id}.${i}`) })),
        )
      }),
      { numRuns },
    )
    expect(await client.request('echo in step')).toEqual(['in step'])
  })
})
