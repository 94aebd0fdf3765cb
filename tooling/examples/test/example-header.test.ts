// The reading of an example's opening comment: what the suite runs and checks must be what the
// comment says, and a header it cannot follow is an error, never a silent pass.
import { describe, expect, it } from 'vitest'
import { missingLine, parseExampleHeader, printPattern } from './example-header.ts'

describe('parseExampleHeader', () => {
  it('reads the Run: line and the Prints: lines', () => {
    const source = [
      '// A cluster.',
      '//',
      '// Run: PORT=0 WORKERS=2 node examples/cluster.mjs --once',
      '//',
      '// Prints:',
      '//   worker <pid> answered',
      '//   done',
      '//',
      '// Not a printed line.',
      "import x from 'y'",
    ].join('\n')
    const header = parseExampleHeader(source, 'cluster.mjs')
    expect(header.env).toEqual({ PORT: '0', WORKERS: '2' })
    expect(header.args).toEqual(['--once'])
    expect(header.prints.map(String)).toEqual(['/^worker .+? answered$/', '/^done$/'])
  })

  it('refuses a file without an opening comment, without Prints:, or with a Run: line for another file', () => {
    expect(() => parseExampleHeader("import x from 'y'\n", 'a.mjs')).toThrow('does not open with a comment')
    expect(() => parseExampleHeader('// Does things.\n', 'a.mjs')).toThrow('has no "Prints:" line')
    expect(() => parseExampleHeader('// Prints:\n// done\n', 'a.mjs')).toThrow('no indented line follows')
    expect(() => parseExampleHeader('// Run: node examples/b.mjs\n// Prints:\n//   x\n', 'a.mjs')).toThrow('must read')
  })
})

describe('missingLine', () => {
  it('matches whole lines in order, <...> standing for any text', () => {
    const prints = ['listening on 127.0.0.1:<port>', 'reply: [1]'].map(printPattern)
    expect(missingLine(prints, 'listening on 127.0.0.1:4312\nother\nreply: [1]\n')).toBeUndefined()
    expect(missingLine(prints, 'reply: [1]\nlistening on 127.0.0.1:4312\n')).toBe(prints[1])
    expect(missingLine(prints, 'listening on 127.0.0.1:\nreply: [1]\n')).toBe(prints[0])
    expect(missingLine([printPattern('a.b')], 'axb\n')).toBeDefined()
  })
})
