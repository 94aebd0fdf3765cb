// The worked examples of each package's PROTOCOL.md against the captured wire bytes they name, so
// the published description of a protocol cannot drift from what its peers really send.
//
// A worked example is an HTML comment naming a vector, `<!-- vector: karp.json karp_simple_echo/client/0 -->`,
// right before a fenced block holding the vector's bytes as `hexdump -C` prints them:
//
//   00000000  4b 41 52 50 5f 48 45 41  44 65 63 68 6f 30 31 32  |KARP_HEADecho012|
//
// The comment is invisible on the npm page; the block must hold exactly the vector's bytes, offsets
// and text column included, so a page that is edited by hand is checked as strictly as one that
// is generated with `hexdump`.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'
import { root } from './published-packages.mjs'

const MARKER = /^<!--\s*vector:\s*(\S+)\s+(\S+)\s*-->\s*$/
const FENCE = /^(`{3,}|~{3,})/

/** Where the captured vectors are: `PROTO_VECTORS_DIR`, else `shared/vectors` beside the checkout, as the tests read them. */
export const vectorsDir = () => process.env['PROTO_VECTORS_DIR'] ?? join(root, '..', 'shared', 'vectors')

/** The bytes of one vector entry: its `hex`, else its `text` as UTF-8 (the rule of framing's `loadVectors`). */
export function vectorBytes(entry) {
  if (typeof entry.hex === 'string') return Buffer.from(entry.hex, 'hex')
  if (typeof entry.text === 'string') return Buffer.from(entry.text, 'utf8')
  throw new Error(`vector ${entry.name} has neither hex nor text`)
}

/** One line of `hexdump -C`: the bytes of `row` (at most 16) at `offset`. */
function dumpLine(offset, row) {
  const hex = row.map((b) => b.toString(16).padStart(2, '0'))
  const columns = `${hex.slice(0, 8).join(' ').padEnd(23)}  ${hex.slice(8).join(' ').padEnd(23)}`
  const text = row.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('')
  return `${offset.toString(16).padStart(8, '0')}  ${columns}  |${text}|`
}

/** `bytes` as `hexdump -C` prints them, without the closing line that holds only the length. */
export function hexdump(bytes) {
  const lines = []
  for (let at = 0; at < bytes.length; at += 16) lines.push(dumpLine(at, [...bytes.subarray(at, at + 16)]))
  return lines.join('\n')
}

/**
 * The bytes of a `hexdump -C` block, or the first reason it is not one. Each line must be
 * exactly what `hexdump -C` prints for its bytes at the offset the lines before it reach (so the
 * text column cannot disagree with the bytes), and only the last may be short. The closing
 * offset-only line `hexdump` prints is accepted when it states the length.
 * @returns {{ bytes: Buffer } | { problem: string }}
 */
export function parseHexdump(text) {
  const bytes = []
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  if (lines.length === 0) return { problem: 'the block is empty' }
  for (const [i, line] of lines.entries()) {
    if (i > 0 && i === lines.length - 1 && /^[0-9a-f]{8}$/.test(line)) {
      if (Number.parseInt(line, 16) !== bytes.length) return { problem: `the closing offset ${line} is not the length, ${bytes.length} bytes` }
      break
    }
    if (i > 0 && bytes.length % 16 !== 0) return { problem: `line ${i} holds fewer than 16 bytes, yet another line follows` }
    const pairs = line.slice(8, line.indexOf('|') === -1 ? undefined : line.indexOf('|')).trim().split(/\s+/)
    if (!/^[0-9a-f]{8} {2}/.test(line) || pairs.length > 16 || !pairs.every((pair) => /^[0-9a-f]{2}$/.test(pair))) {
      return { problem: `line ${i + 1} is not a hexdump -C line: ${JSON.stringify(line)}` }
    }
    const row = pairs.map((pair) => Number.parseInt(pair, 16))
    const expected = dumpLine(bytes.length, row)
    if (line !== expected) return { problem: `line ${i + 1} should read ${JSON.stringify(expected)}, not ${JSON.stringify(line)}` }
    bytes.push(...row)
  }
  return { bytes: Buffer.from(bytes) }
}

/**
 * Every worked example of a PROTOCOL.md: the vector file and name its marker gives, the block
 * after it, and the 1-based line of the marker; a marker without a block right after it has
 * `block` undefined.
 */
export function workedExamples(markdown) {
  const lines = markdown.split('\n')
  const found = []
  for (let i = 0; i < lines.length; i++) {
    const marker = MARKER.exec(lines[i])
    if (marker === null) continue
    const example = { file: marker[1], name: marker[2], line: i + 1, block: undefined }
    found.push(example)
    const fence = FENCE.exec(lines[i + 1] ?? '')
    if (fence === null) continue
    const end = lines.findIndex((line, j) => j > i + 1 && line.startsWith(fence[1]))
    if (end === -1) continue
    example.block = lines.slice(i + 2, end).join('\n')
    i = end
  }
  return found
}

/**
 * What is wrong with the worked examples of one PROTOCOL.md: none at all, a marker without its
 * block, a vector that does not exist, a block that is not a hexdump, or bytes that are not the
 * vector's. `vectors(file)` gives the entries of a vector file, or undefined when there is none.
 * @param {string} markdown
 * @param {(file: string) => Array<{ name: string, hex?: string, text?: string }> | undefined} vectors
 * @returns {string[]}
 */
export function protocolDocProblems(markdown, vectors) {
  const examples = workedExamples(markdown)
  if (examples.length === 0) return ['has no worked example (a `<!-- vector: FILE NAME -->` line before a hexdump block)']
  const problems = []
  for (const { file, name, line, block } of examples) {
    const at = `line ${line} (${file} ${name})`
    if (block === undefined) {
      problems.push(`${at}: no fenced block follows the marker`)
      continue
    }
    const entry = vectors(file)?.find((candidate) => candidate.name === name)
    if (entry === undefined) {
      problems.push(`${at}: ${vectors(file) === undefined ? `there is no vector file ${file}` : `${file} has no vector ${name}`}`)
      continue
    }
    const parsed = parseHexdump(block)
    if ('problem' in parsed) {
      problems.push(`${at}: ${parsed.problem}`)
      continue
    }
    const expected = vectorBytes(entry)
    if (!parsed.bytes.equals(expected)) {
      const first = [...expected].findIndex((b, i) => parsed.bytes[i] !== b)
      const where = first === -1 ? `it has ${parsed.bytes.length - expected.length} bytes more` : `they differ from offset 0x${first.toString(16)}`
      problems.push(`${at}: the block holds ${parsed.bytes.length} bytes, the vector ${expected.length}; ${where}. The vector is:\n${hexdump(expected)}`)
    }
  }
  return problems
}

/** The entries of vector file `file` in `dir`, or undefined when it does not exist. */
export function readVectorFile(dir, file) {
  const path = join(dir, file)
  if (!/^[\w.-]+\.json$/.test(file) || !existsSync(path)) return undefined
  return JSON.parse(readFileSync(path, 'utf8'))
}
