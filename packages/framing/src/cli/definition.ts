// The declaration of a command line: verbs with their positionals and options, the values they give, and their checks.
import type { Readable } from 'node:stream'
import { UsageError } from '../errors.ts'
import type { CliOutput } from './output.ts'

/** What every option declaration has. */
interface OptionBase {
  /** One line for `--help`, lower case, without a final period. */
  description: string
  /** One letter that also names the option, as `-x`; `h` is taken by `--help`. @default undefined */
  short?: string
  /** The value's name in `--help`, as `N` in `--lines N`. @default N, TEXT, PATH, the choices (CHOICE when long) or VALUE, by type */
  placeholder?: string
}

/** A flag: `true` when given, else `false`. It takes no value. */
export interface BooleanOptionDefinition extends OptionBase {
  /** The kind of option. */
  type: 'boolean'
}

/** Any text. */
export interface StringOptionDefinition extends OptionBase {
  /** The kind of option. */
  type: 'string'
  /** The value when the option is absent. @default undefined */
  default?: string
}

/** A file system path; an empty one is refused. */
export interface PathOptionDefinition extends OptionBase {
  /** The kind of option. */
  type: 'path'
  /** The value when the option is absent. @default undefined */
  default?: string
}

/** A whole number from `min` to `max`, both shown in `--help`. */
export interface IntegerOptionDefinition extends OptionBase {
  /** The kind of option. */
  type: 'integer'
  /** The least value accepted, a safe integer. */
  min: number
  /** The greatest value accepted, a safe integer. */
  max: number
  /** The value when the option is absent. @default undefined */
  default?: number
}

/** One of a fixed set of words. */
export interface EnumOptionDefinition<C extends string = string> extends OptionBase {
  /** The kind of option. */
  type: 'enum'
  /** The words accepted. */
  choices: readonly C[]
  /** The value when the option is absent. @default undefined */
  default?: C
}

/** An option that may be repeated; its value is the list of what was given, in order. */
export interface ListOptionDefinition extends OptionBase {
  /** The kind of option. */
  type: 'list'
}

/** Any option declaration. */
export type OptionDefinition =
  | BooleanOptionDefinition
  | StringOptionDefinition
  | PathOptionDefinition
  | IntegerOptionDefinition
  | EnumOptionDefinition
  | ListOptionDefinition

/** A verb's options by long name (`'max-line-bytes'` is given as `--max-line-bytes`). */
export type OptionsDefinition = Readonly<Record<string, OptionDefinition>>

/** The value a verb receives for an option declared as `O`: `undefined` when it was not given and has no default. */
export type OptionValue<O extends OptionDefinition> = O extends BooleanOptionDefinition
  ? boolean
  : O extends ListOptionDefinition
    ? string[]
    :
        | (O extends IntegerOptionDefinition ? number : O extends EnumOptionDefinition<infer C> ? C : string)
        | (O extends { default: unknown } ? never : undefined)

/** The values of every declared option, by long name. */
export type OptionValues<O extends OptionsDefinition> = { -readonly [K in keyof O]: OptionValue<O[K]> }

/** An argument taken by position. */
export interface PositionalDefinition {
  /** The key of its value in `ctx.args`. */
  name: string
  /** How `--help` and errors show it. @default the name in capitals */
  label?: string
  /** One line for `--help`. */
  description: string
  /** Missing it is a usage error. @default false */
  required?: boolean
  /** Takes this and every later argument, as a list; only the last positional may. @default false */
  variadic?: boolean
  /** An option that stands in for this positional: when it is given, the positional is not taken (a `--socket PATH` for a `HOST:PORT`). @default undefined */
  absentWith?: string
}

/** The value a verb receives for a positional declared as `P`. */
export type PositionalValue<P extends PositionalDefinition> = P extends { variadic: true }
  ? string[]
  : P extends { required: true }
    ? P extends { absentWith: string }
      ? string | undefined
      : string
    : string | undefined

/** The values of every declared positional, by name. */
export type PositionalValues<P extends readonly PositionalDefinition[]> = {
  -readonly [D in P[number] as D['name']]: PositionalValue<D>
}

/** What a verb's `run` receives. */
export interface VerbContext<O extends OptionsDefinition = OptionsDefinition, P extends readonly PositionalDefinition[] = readonly PositionalDefinition[]> {
  /** The option values, checked and with their defaults applied. */
  readonly values: OptionValues<O>
  /** The positional values, checked. */
  readonly args: PositionalValues<P>
  /** Where the verb prints; every human-readable line is escaped there. */
  readonly out: CliOutput
  /** The process's stdin, or what the caller of `runCli` passed. */
  readonly stdin: Readable
  /** Aborts on the first SIGINT or SIGTERM (reason: `CliInterruptedError`): stop gracefully. */
  readonly signal: AbortSignal
  /** Aborts on the second: stop now. */
  readonly forceSignal: AbortSignal
  /** The command line the verb belongs to. */
  readonly cli: CliDefinition
}

/** One verb of a command line, such as `send` or `serve`. */
export interface VerbDefinition<O extends OptionsDefinition = OptionsDefinition, P extends readonly PositionalDefinition[] = readonly PositionalDefinition[]> {
  /** The word that selects it. */
  name: string
  /** One line for `--help`. */
  summary: string
  /** More lines for `--help`, after the summary. @default undefined */
  details?: string
  /** Its positionals, in order. @default [] */
  positionals?: P
  /** Its options; `-h`/`--help` is added to every verb. @default {} */
  options?: O
  /**
   * Does the work. Resolves with the exit code (nothing means 0); whatever it throws is printed in
   * the one error format and exits 1 for a peer's error, else 2.
   */
  run(ctx: VerbContext<O, P>): Promise<number | void> | number | void
}

/** A whole command line: one bin and its verbs. */
export interface CliDefinition {
  /** The bin's name, which opens every error line. */
  name: string
  /** One line for `--help`. */
  summary: string
  /** The version, or the URL of the package.json to read it from when `--version` asks. */
  version: string | URL
  /** Its verbs. */
  verbs: readonly VerbDefinition[]
  /** What error codes of this bin begin with; a listen failure becomes `<codePrefix>_LISTEN`. @default `ERR_` and the name in capitals */
  codePrefix?: string
}

const OPTION_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/
const WORD = /^[a-z][a-z0-9-]*$/

/**
 * `verb` as given, its types inferred from the literal: option values and positionals reach `run`
 * typed. Checked, with the whole command line, by `defineCli`.
 */
export function defineVerb<const O extends OptionsDefinition = Record<never, never>, const P extends readonly PositionalDefinition[] = []>(
  verb: VerbDefinition<O, P>,
): VerbDefinition<O, P> {
  return verb
}

/**
 * `cli`, checked: unique verb, option, short and positional names, ranges and defaults that hold,
 * required positionals before optional ones, a variadic one last.
 * @throws {UsageError} when the declaration is inconsistent
 */
export function defineCli(cli: CliDefinition): CliDefinition {
  if (!WORD.test(cli.name)) throw new UsageError(`bin name ${JSON.stringify(cli.name)} must be a lower-case word`)
  const verbs = new Set<string>()
  for (const verb of cli.verbs) {
    if (!WORD.test(verb.name)) throw new UsageError(`verb name ${JSON.stringify(verb.name)} must be a lower-case word`)
    if (verbs.has(verb.name)) throw new UsageError(`verb ${verb.name} is declared twice`)
    verbs.add(verb.name)
    checkVerb(verb)
  }
  if (verbs.size === 0) throw new UsageError(`${cli.name} declares no verb`)
  return cli
}

function checkVerb(verb: VerbDefinition): void {
  const where = `verb ${verb.name}`
  const shorts = new Set<string>(['h'])
  const options = verb.options ?? {}
  for (const [name, option] of Object.entries(options)) {
    if (!OPTION_NAME.test(name)) throw new UsageError(`${where}: option name ${JSON.stringify(name)} must be lower-case words joined by -`)
    if (name === 'help') throw new UsageError(`${where}: --help is declared for every verb`)
    if (option.short !== undefined) {
      if (!/^[A-Za-z0-9]$/.test(option.short)) throw new UsageError(`${where}: --${name} has a short name that is not one letter or digit`)
      if (shorts.has(option.short)) throw new UsageError(`${where}: -${option.short} is taken`)
      shorts.add(option.short)
    }
    checkOption(`${where}: --${name}`, option)
  }
  const positionals = verb.positionals ?? []
  const names = new Set<string>()
  let optional = false
  positionals.forEach((positional, i) => {
    const label = `${where}: positional ${positional.name}`
    if (names.has(positional.name)) throw new UsageError(`${label} is declared twice`)
    names.add(positional.name)
    if (positional.variadic === true && i !== positionals.length - 1) throw new UsageError(`${label} is variadic but not last`)
    if (positional.absentWith !== undefined && !(positional.absentWith in options)) {
      throw new UsageError(`${label} stands in for --${positional.absentWith}, which is not declared`)
    }
    const required = positional.required === true && positional.absentWith === undefined
    if (required && optional) throw new UsageError(`${label} is required after an optional one`)
    if (positional.required !== true) optional = true
  })
}

function checkOption(where: string, option: OptionDefinition): void {
  switch (option.type) {
    case 'integer': {
      const { min, max } = option
      if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min > max) throw new UsageError(`${where}: the range ${min} to ${max} is not one of safe integers`)
      if (option.default !== undefined && !(Number.isSafeInteger(option.default) && option.default >= min && option.default <= max)) {
        throw new UsageError(`${where}: the default ${option.default} is outside ${min} to ${max}`)
      }
      return
    }
    case 'enum':
      if (option.choices.length === 0) throw new UsageError(`${where} has no choices`)
      if (option.default !== undefined && !option.choices.includes(option.default)) throw new UsageError(`${where}: the default ${option.default} is not a choice`)
      return
    case 'path':
      if (option.default === '') throw new UsageError(`${where}: the default path is empty`)
      return
    case 'boolean':
    case 'string':
    case 'list':
      return
  }
}

/** How `--help` and errors show a positional. */
export function positionalLabel(positional: PositionalDefinition): string {
  return positional.label ?? positional.name.toUpperCase()
}

/** What `--help` shows after an option's name. */
export function optionPlaceholder(option: OptionDefinition): string | undefined {
  if (option.type === 'boolean') return undefined
  if (option.placeholder !== undefined) return option.placeholder
  switch (option.type) {
    case 'integer':
      return 'N'
    case 'string':
      return 'TEXT'
    case 'path':
      return 'PATH'
    case 'enum': {
      // A long list of choices would push every description off the screen; the text lists them.
      const choices = option.choices.join('|')
      return choices.length <= 20 ? choices : 'CHOICE'
    }
    case 'list':
      return 'VALUE'
  }
}

/** How help and errors state an integer range. */
export function rangeText(min: number, max: number): string {
  return max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `${min} to ${max}`
}

/** The codes of a bin begin with this. */
export function codePrefix(cli: CliDefinition): string {
  return cli.codePrefix ?? `ERR_${cli.name.toUpperCase()}`
}
