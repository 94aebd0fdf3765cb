// A verb's arguments checked against its declaration, on node:util parseArgs, with errors in our own words.
import { parseArgs } from 'node:util'
import type { OptionDefinition, PositionalDefinition, VerbDefinition } from './definition.ts'
import { optionPlaceholder, positionalLabel, rangeText } from './definition.ts'
import { CliUsageError } from './errors.ts'
import { closest } from '../suggest.ts'

/** What the arguments of one verb come to. */
export type ParsedVerb =
  | { kind: 'help' }
  | { kind: 'error'; error: CliUsageError; json: boolean }
  | { kind: 'ok'; values: Record<string, unknown>; args: Record<string, unknown>; json: boolean }

type Token = ReturnType<typeof parseArgs>['tokens'] extends (infer T)[] | undefined ? T : never

/**
 * `argv` (after the verb) against `verb`'s declaration. `-h`/`--help` anywhere before `--` wins
 * over every mistake. `json` says whether `--json` was given, so a usage error can be printed as
 * JSON too.
 */
export function parseVerb(verb: VerbDefinition, argv: readonly string[]): ParsedVerb {
  const declared = verb.options ?? {}
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } }
  for (const [name, option] of Object.entries(declared)) {
    config[name] = { type: option.type === 'boolean' ? 'boolean' : 'string', ...(option.short === undefined ? {} : { short: option.short }) }
  }
  // Not strict: parseArgs's own errors are worded for programmers ("argument is ambiguous"), so
  // every check is made here on its tokens instead.
  const { tokens } = parseArgs({ args: [...argv], options: config, strict: false, allowPositionals: true, tokens: true })
  const json = declared['json']?.type === 'boolean' && tokens.some((t) => t.kind === 'option' && t.name === 'json')
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { kind: 'help' }
  try {
    const raw = collect(tokens, declared)
    const values: Record<string, unknown> = {}
    for (const [name, option] of Object.entries(declared)) values[name] = convert(name, option, raw.get(name))
    const given = new Set(raw.keys())
    const args = assign(verb.positionals ?? [], positionalsOf(tokens), given)
    return { kind: 'ok', values, args, json }
  } catch (err) {
    if (err instanceof CliUsageError) return { kind: 'error', error: err, json }
    throw err
  }
}

/** The raw values of every option given: the last one, or every one for a list. */
function collect(tokens: readonly Token[], declared: Readonly<Record<string, OptionDefinition>>): Map<string, string[]> {
  const raw = new Map<string, string[]>()
  for (const token of tokens) {
    if (token.kind !== 'option') continue
    const option = declared[token.name]
    if (option === undefined) throw unknownOption(token.rawName, declared)
    const flag = `--${token.name}`
    if (option.type === 'boolean') {
      if (token.value !== undefined) throw new CliUsageError(`${flag} takes no value`)
      raw.set(token.name, ['true'])
      continue
    }
    // parseArgs takes the next argument whatever it is; one that is itself an option means the
    // value was forgotten (`--lines --json`). `--message=--x` still passes `--x`.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) {
      throw new CliUsageError(`${flag} needs a value (${optionPlaceholder(option) ?? 'VALUE'})`)
    }
    const previous = option.type === 'list' ? (raw.get(token.name) ?? []) : []
    raw.set(token.name, [...previous, token.value])
  }
  return raw
}

function unknownOption(rawName: string, declared: Readonly<Record<string, OptionDefinition>>): CliUsageError {
  if (!rawName.startsWith('--')) return new CliUsageError(`unknown option ${rawName}`)
  const guess = closest(rawName.slice(2), [...Object.keys(declared), 'help'])
  return new CliUsageError(`unknown option ${rawName}${guess === undefined ? '' : `, did you mean --${guess}?`}`)
}

function convert(name: string, option: OptionDefinition, raw: string[] | undefined): unknown {
  const flag = `--${name}`
  const text = raw?.at(-1)
  switch (option.type) {
    case 'boolean':
      return raw !== undefined
    case 'list':
      return raw ?? []
    case 'string':
      return text ?? option.default
    case 'path':
      if (text === '') throw new CliUsageError(`${flag} needs a path, got an empty one`)
      return text ?? option.default
    case 'integer': {
      if (text === undefined) return option.default
      const value = /^-?[0-9]+$/.test(text) ? Number(text) : Number.NaN
      const range = rangeText(option.min, option.max)
      if (Number.isNaN(value)) throw new CliUsageError(`${flag} ${shown(text)} is not an integer (${range})`)
      if (!Number.isSafeInteger(value) || value < option.min || value > option.max) {
        throw new CliUsageError(`${flag} ${shown(text)} is out of range (${range})`)
      }
      return value
    }
    case 'enum': {
      if (text === undefined) return option.default
      if (option.choices.includes(text)) return text
      const guess = closest(text, option.choices)
      throw new CliUsageError(`${flag} ${shown(text)} is not one of ${option.choices.join(', ')}${guess === undefined ? '' : `, did you mean ${guess}?`}`)
    }
  }
}

function shown(text: string): string {
  return text === '' || /\s/.test(text) ? JSON.stringify(text) : text
}

function positionalsOf(tokens: readonly Token[]): string[] {
  const values: string[] = []
  for (const token of tokens) if (token.kind === 'positional') values.push(token.value)
  return values
}

/** Positional values by name; a positional whose `absentWith` option was given takes nothing. */
function assign(declared: readonly PositionalDefinition[], given: readonly string[], options: ReadonlySet<string>): Record<string, unknown> {
  const args: Record<string, unknown> = {}
  let next = 0
  for (const positional of declared) {
    if (positional.absentWith !== undefined && options.has(positional.absentWith)) {
      args[positional.name] = positional.variadic === true ? [] : undefined
      continue
    }
    if (positional.variadic === true) {
      const rest = given.slice(next)
      if (rest.length === 0 && positional.required === true) throw new CliUsageError(`missing ${positionalLabel(positional)}`)
      args[positional.name] = rest
      next = given.length
      continue
    }
    const value = given[next]
    if (value === undefined && positional.required === true) throw new CliUsageError(`missing ${positionalLabel(positional)}`)
    args[positional.name] = value
    if (value !== undefined) next += 1
  }
  const extra = given[next]
  if (extra !== undefined) throw new CliUsageError(`unexpected argument ${shown(extra)}`)
  return args
}
