import { describe, expect, it } from 'vitest'
import { DEMO_MAX_COUNT, demoHandler } from '../src/demo.ts'
import type { OnelineContext } from '../src/types.ts'

const ctx = (invalid = false): OnelineContext => ({
  invalid,
  raw: new Uint8Array(),
  signal: new AbortController().signal,
  remote: { address: '127.0.0.1', port: 1 },
  connection: { address: '127.0.0.1', port: 1, remote: { address: '127.0.0.1', port: 1 }, state: 'active', closed: Promise.resolve() },
  send: () => {},
})

describe('demoHandler', () => {
  it.each([
    ['echo hello', 'hello'],
    ['echo ', ''],
    ['echo  two  spaces ', ' two  spaces '],
    ['count 0', []],
    ['count 3', ['1', '2', '3']],
    ['count 03', ['1', '2', '3']],
    ['echo', 'unknown: echo'],
    ['count', 'unknown: count'],
    ['count -1', 'unknown: count -1'],
    ['count 1.5', 'unknown: count 1.5'],
    ['count 3 ', 'unknown: count 3 '],
    [`count ${DEMO_MAX_COUNT + 1}`, `unknown: count ${DEMO_MAX_COUNT + 1}`],
    ['count 999999', 'unknown: count 999999'],
    ['ECHO x', 'unknown: ECHO x'],
    ['', 'unknown: '],
  ])('answers %j with %j', (command, reply) => {
    expect(demoHandler(command, ctx())).toEqual(reply)
  })

  it(`counts up to ${DEMO_MAX_COUNT}`, () => {
    const lines = demoHandler(`count ${DEMO_MAX_COUNT}`, ctx())
    expect(lines).toHaveLength(DEMO_MAX_COUNT)
    expect((lines as string[]).at(-1)).toBe(String(DEMO_MAX_COUNT))
  })

  it('answers invalid to a command that was not valid UTF-8, whatever its text', () => {
    expect(demoHandler('echo \uFFFD', ctx(true))).toBe('invalid')
  })
})
