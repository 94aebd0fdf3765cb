import { describe, expect, it } from 'vitest'
import type { CliDefinition, VerbDefinition } from '../../src/cli/definition.ts'
import { defineCli } from '../../src/cli/definition.ts'
import { closest } from '../../src/suggest.ts'
import { isProtoError } from '../../src/errors.ts'

const verb = (extra: Partial<VerbDefinition>): VerbDefinition => ({ name: 'go', summary: 'go', run: () => 0, ...extra })
const cli = (verbs: VerbDefinition[], extra: Partial<CliDefinition> = {}): CliDefinition => ({ name: 'toy', summary: 'toy', version: '1', verbs, ...extra })

describe('defineCli', () => {
  it.each([
    ['a bin name that is not a word', cli([verb({})], { name: 'Toy Bin' }), /bin name/],
    ['no verb', cli([]), /declares no verb/],
    ['a verb twice', cli([verb({}), verb({})]), /declared twice/],
    ['a verb name like an option', cli([verb({ name: '--go' })]), /verb name/],
    ['an option named help', cli([verb({ options: { help: { type: 'boolean', description: 'x' } } })]), /--help is declared for every verb/],
    ['an option name with capitals', cli([verb({ options: { Lines: { type: 'boolean', description: 'x' } } })]), /option name/],
    ['a short name taken by -h', cli([verb({ options: { hi: { type: 'boolean', short: 'h', description: 'x' } } })]), /-h is taken/],
    [
      'a short name twice',
      cli([verb({ options: { a: { type: 'boolean', short: 'x', description: 'x' }, b: { type: 'boolean', short: 'x', description: 'x' } } })]),
      /-x is taken/,
    ],
    ['a short name of two letters', cli([verb({ options: { a: { type: 'boolean', short: 'xy', description: 'x' } } })]), /one letter/],
    ['an empty range', cli([verb({ options: { n: { type: 'integer', min: 5, max: 1, description: 'x' } } })]), /range/],
    ['an unsafe range', cli([verb({ options: { n: { type: 'integer', min: 0, max: 2 ** 53, description: 'x' } } })]), /range/],
    ['a default out of range', cli([verb({ options: { n: { type: 'integer', min: 0, max: 1, default: 2, description: 'x' } } })]), /default 2/],
    ['an enum without choices', cli([verb({ options: { e: { type: 'enum', choices: [], description: 'x' } } })]), /no choices/],
    ['an enum default not a choice', cli([verb({ options: { e: { type: 'enum', choices: ['a'], default: 'b', description: 'x' } } })]), /not a choice/],
    ['an empty default path', cli([verb({ options: { p: { type: 'path', default: '', description: 'x' } } })]), /empty/],
    [
      'a variadic positional before another',
      cli([verb({ positionals: [{ name: 'a', description: 'a', variadic: true }, { name: 'b', description: 'b' }] })]),
      /variadic but not last/,
    ],
    [
      'a required positional after an optional one',
      cli([verb({ positionals: [{ name: 'a', description: 'a' }, { name: 'b', description: 'b', required: true }] })]),
      /required after an optional/,
    ],
    ['a positional twice', cli([verb({ positionals: [{ name: 'a', description: 'a' }, { name: 'a', description: 'a' }] })]), /declared twice/],
    [
      'a positional standing in for a missing option',
      cli([verb({ positionals: [{ name: 'a', description: 'a', required: true, absentWith: 'socket' }] })]),
      /--socket, which is not declared/,
    ],
  ])('refuses %s with ERR_PROTO_USAGE', (_what, definition, message) => {
    let thrown: unknown
    try {
      defineCli(definition)
    } catch (err) {
      thrown = err
    }
    expect(isProtoError(thrown) && thrown.code).toBe('ERR_PROTO_USAGE')
    expect((thrown as Error).message).toMatch(message)
  })

  it('accepts a consistent declaration as it is', () => {
    const definition = cli([verb({ positionals: [{ name: 'a', description: 'a', required: true }, { name: 'b', description: 'b', variadic: true }] })])
    expect(defineCli(definition)).toBe(definition)
  })
})

describe('closest', () => {
  it.each([
    ['linse', ['lines', 'json', 'timeout'], 'lines'],
    ['timout', ['lines', 'json', 'timeout'], 'timeout'],
    ['jsno', ['lines', 'json'], 'json'],
    ['time', ['timeout', 'lines'], 'timeout'],
    ['t', ['timeout', 'tls'], undefined],
    ['max', ['max-line-bytes', 'max-queue'], undefined],
    ['bogus', ['busy', 'lines'], undefined],
    ['', ['a'], undefined],
  ])('%s among %j is %s', (word, candidates, expected) => {
    expect(closest(word, candidates)).toBe(expected)
  })
})
