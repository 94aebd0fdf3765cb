import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { escapeControl } from '../src/escape.ts'
import { numRuns } from './helpers.ts'

/** What a terminal may act on: C0, DEL, C1, U+2028/U+2029, and any surrogate left alone. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** The inverse of escapeControl, written from its documented rules: it proves no two inputs meet. */
function unescape(text: string): string {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const char = text[i] ?? ''
    if (char !== '\\') {
      out += char
      continue
    }
    const next = text[i + 1]
    if (next === '\\') {
      out += '\\'
      i += 1
    } else if (next === 'n' || next === 'r' || next === 't') {
      out += { n: '\n', r: '\r', t: '\t' }[next]
      i += 1
    } else if (next === 'x' && /^[0-9a-f]{2}$/.test(text.slice(i + 2, i + 4))) {
      out += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 4), 16))
      i += 3
    } else if (next === 'u' && /^[0-9a-f]{4}$/.test(text.slice(i + 2, i + 6))) {
      out += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 6), 16))
      i += 5
    } else {
      out += '\\'
    }
  }
  return out
}

/** Strings rich in what gets escaped: controls, separators, surrogate halves and backslashes. */
const tricky = fc
  .array(
    fc.oneof(
      fc.constantFrom('\\', 'x', 'u', 'n', 'r', 't', '1', 'b', 'é', '😀', '\u2028', '\u2029', '\ud800', '\udc00', '\u009b', '\u007f', '\u001b'),
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    ),
    { maxLength: 24 },
  )
  .map((parts) => parts.join(''))

describe('escapeControl', () => {
  it.each([
    ['plain text, é and 😀', 'plain text, é and 😀'],
    ['\u001b]0;pwned\u0007', '\\x1b]0;pwned\\x07'],
    ['\u001b[2J', '\\x1b[2J'],
    ['a\nb\r\tc', 'a\\nb\\r\\tc'],
    ['\u0000\u007f', '\\x00\\x7f'],
    ['\u009b31m', '\\u009b31m'],
    ['\u0085', '\\u0085'],
    ['x\u2028y\u2029', 'x\\u2028y\\u2029'],
    ['\ud800 \udc00', '\\ud800 \\udc00'],
    ['\ud83d\ude00', '\ud83d\ude00'],
    [String.raw`C:\Users\me`, String.raw`C:\Users\me`],
    [String.raw`C:\new`, String.raw`C:\\new`],
    [String.raw`a\x1b`, String.raw`a\\x1b`],
    [String.raw`\u009b`, String.raw`\\u009b`],
    ['\\\u001b', String.raw`\\\x1b`],
    ['\\\\', '\\\\\\'],
    ['end\\', 'end\\'],
  ])('writes %j as %j', (input, output) => {
    expect(escapeControl(input)).toBe(output)
    expect(unescape(output)).toBe(input)
  })

  it('returns the same string when there is nothing to escape', () => {
    const text = 'nothing to see here'
    expect(escapeControl(text)).toBe(text)
  })

  it('never leaves a control character, and gives distinct outputs for distinct inputs', () => {
    fc.assert(
      fc.property(fc.oneof(tricky, fc.string({ unit: 'binary' })), (input) => {
        const output = escapeControl(input)
        expect(output).not.toMatch(CONTROL)
        expect(unescape(output)).toBe(input)
      }),
      { numRuns: numRuns * 2 },
    )
    fc.assert(
      fc.property(tricky, tricky, (a, b) => {
        fc.pre(a !== b)
        expect(escapeControl(a)).not.toBe(escapeControl(b))
      }),
      { numRuns: numRuns * 2 },
    )
  })
})
