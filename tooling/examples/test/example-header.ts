// What an example's opening comment promises: how it is run and what it prints. The same lines
// tell a reader what to expect and tell the suite what to check.
//
//   // Run: WORKERS=2 node examples/cluster.mjs      (optional; plain `node examples/<name>.mjs`)
//   // Prints:
//   //   pong
//   //   listening on 127.0.0.1:<port>              (<...> stands for any text)

export interface ExampleHeader {
  /** Environment variables the `Run:` line sets. */
  env: Record<string, string>
  /** Arguments after the script's path on the `Run:` line. */
  args: string[]
  /** The `Prints:` lines, in order, as patterns matching one whole line of stdout each. */
  prints: RegExp[]
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A `Prints:` line as a pattern: literal text, each `<...>` standing for any non-empty text. */
export function printPattern(line: string): RegExp {
  const parts = line.split(/<[^<>]+>/)
  return new RegExp(`^${parts.map(escapeRegExp).join('.+?')}$`)
}

/** Reads the opening `//` comment of `source`, an example named `examples/<name>`; throws on a header the suite cannot run. */
export function parseExampleHeader(source: string, name: string): ExampleHeader {
  const comment: string[] = []
  for (const line of source.split('\n')) {
    if (!line.startsWith('//')) break
    comment.push(line.replace(/^\/\/ ?/, ''))
  }
  if (comment.length === 0) throw new Error(`examples/${name} does not open with a comment saying what it does and prints`)
  const header: ExampleHeader = { env: {}, args: [], prints: [] }
  const run = comment.find((line) => line.startsWith('Run: '))
  if (run !== undefined) {
    const words = run.slice('Run: '.length).trim().split(/\s+/)
    while (words[0] !== undefined && /^[A-Z_][A-Z0-9_]*=/.test(words[0])) {
      const [key = '', ...value] = (words.shift() ?? '').split('=')
      header.env[key] = value.join('=')
    }
    if (words[0] !== 'node' || words[1] !== `examples/${name}`) {
      throw new Error(`examples/${name}: the Run: line must read "[NAME=value...] node examples/${name} [args...]", not "${run}"`)
    }
    header.args = words.slice(2)
  }
  const at = comment.indexOf('Prints:')
  if (at === -1) throw new Error(`examples/${name}: its opening comment has no "Prints:" line listing what it prints`)
  for (const line of comment.slice(at + 1)) {
    if (!line.startsWith('  ')) break
    header.prints.push(printPattern(line.trim()))
  }
  if (header.prints.length === 0) throw new Error(`examples/${name}: no indented line follows "Prints:"`)
  return header
}

/** The first promised line stdout does not hold, in order, or undefined when it holds them all. */
export function missingLine(prints: RegExp[], stdout: string): RegExp | undefined {
  const lines = stdout.split('\n').map((line) => line.trimEnd())
  let from = 0
  for (const pattern of prints) {
    const found = lines.findIndex((line, i) => i >= from && pattern.test(line))
    if (found === -1) return pattern
    from = found + 1
  }
  return undefined
}
