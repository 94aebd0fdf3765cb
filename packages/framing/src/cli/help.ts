// The help and usage text of a bin and of each verb, made from the declaration alone.
import type { CliDefinition, OptionDefinition, PositionalDefinition, VerbDefinition } from './definition.ts'
import { optionPlaceholder, positionalLabel, rangeText } from './definition.ts'

/** What every bin's exit codes mean; a verb with its own (decode) says so in its details. */
export const EXIT_CODES = 'Exit codes: 0 success, 1 the peer reported an error, 2 a usage, local, connection or protocol error.'

/** `<bin> --help`: the commands, then every verb with all its arguments and options. */
export function cliHelp(cli: CliDefinition): string {
  return [cliUsage(cli), ...cli.verbs.map((verb) => verbSection(cli, verb)), `${EXIT_CODES}\n`].join('\n')
}

/** The short usage printed after a mistake before any verb was chosen. */
export function cliUsage(cli: CliDefinition): string {
  const width = Math.max(...cli.verbs.map((verb) => verb.name.length))
  return [
    `${cli.name}: ${cli.summary}`,
    '',
    `Usage: ${cli.name} <command> [arguments] [options]`,
    `       ${cli.name} --help | --version`,
    '',
    'Commands:',
    ...cli.verbs.map((verb) => `  ${verb.name.padEnd(width)}  ${verb.summary}`),
    '',
    `Run '${cli.name} <command> --help' for one command's arguments and options.`,
    '',
  ].join('\n')
}

/** `<bin> <verb> --help`. */
export function verbHelp(cli: CliDefinition, verb: VerbDefinition): string {
  return `${verbSection(cli, verb)}\n${EXIT_CODES}\n`
}

function verbSection(cli: CliDefinition, verb: VerbDefinition): string {
  const lines = [`Usage: ${usageLine(cli, verb)}`, '', ...wrap(sentence(verb.summary))]
  for (const paragraph of verb.details?.split('\n') ?? []) lines.push(...wrap(paragraph))
  const argumentRows = (verb.positionals ?? []).map((p): Row => [`${positionalLabel(p)}${p.variadic === true ? '...' : ''}`, p.description])
  const optionRows = Object.entries(verb.options ?? {}).map(([name, option]): Row => [optionName(name, option), optionText(option)])
  optionRows.push(['-h, --help', 'print this help'])
  // One column width for both tables, so arguments and options line up.
  const width = Math.max(...[...argumentRows, ...optionRows].map(([left]) => left.length))
  const table = (rows: Row[]): string[] => rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`)
  if (argumentRows.length > 0) lines.push('', 'Arguments:', ...table(argumentRows))
  lines.push('', 'Options:', ...table(optionRows))
  return `${lines.join('\n')}\n`
}

type Row = [left: string, right: string]

// Wide enough for a usage line, narrow enough for a terminal of 100 columns.
const WIDTH = 96

/** `text` cut at spaces into lines of at most WIDTH characters (a longer word keeps its own line). */
function wrap(text: string): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > WIDTH) {
      lines.push(line)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  lines.push(line)
  return lines
}

/** A summary, written in lower case without a period for the command list, as a sentence. */
function sentence(text: string): string {
  const capital = text.charAt(0).toUpperCase() + text.slice(1)
  return /[.!?]$/.test(capital) ? capital : `${capital}.`
}

function usageLine(cli: CliDefinition, verb: VerbDefinition): string {
  const options = verb.options ?? {}
  const parts = [cli.name, verb.name]
  for (const positional of verb.positionals ?? []) parts.push(positionalUsage(positional, options))
  parts.push('[options]')
  return parts.join(' ')
}

function positionalUsage(positional: PositionalDefinition, options: Readonly<Record<string, OptionDefinition>>): string {
  const label = `${positionalLabel(positional)}${positional.variadic === true ? '...' : ''}`
  if (positional.absentWith !== undefined) {
    const stand = options[positional.absentWith]
    const placeholder = stand === undefined ? undefined : optionPlaceholder(stand)
    return `(${label} | --${positional.absentWith}${placeholder === undefined ? '' : ` ${placeholder}`})`
  }
  return positional.required === true ? label : `[${label}]`
}

function optionName(name: string, option: OptionDefinition): string {
  const placeholder = optionPlaceholder(option)
  const long = `--${name}${placeholder === undefined ? '' : ` ${placeholder}`}`
  return option.short === undefined ? `    ${long}` : `-${option.short}, ${long}`
}

function optionText(option: OptionDefinition): string {
  const notes: string[] = []
  switch (option.type) {
    case 'boolean':
      break
    case 'list':
      notes.push('repeatable')
      break
    case 'integer':
      notes.push(rangeText(option.min, option.max))
      break
    case 'enum':
      notes.push(`one of ${option.choices.join(', ')}`)
      break
    case 'string':
    case 'path':
      break
  }
  if ('default' in option && option.default !== undefined) notes.push(`default: ${option.default}`)
  return notes.length === 0 ? option.description : `${option.description} (${notes.join(', ')})`
}
