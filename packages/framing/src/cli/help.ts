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
  const positionals = verb.positionals ?? []
  const options = Object.entries(verb.options ?? {})
  const rows: [string, string][] = []
  const lines = [`Usage: ${usageLine(cli, verb)}`, '', verb.summary]
  if (verb.details !== undefined) lines.push(verb.details)
  const argumentRows = positionals.map((p): [string, string] => [`${positionalLabel(p)}${p.variadic === true ? '...' : ''}`, p.description])
  const optionRows = [...options.map(([name, option]): [string, string] => [optionName(name, option), optionText(option)])]
  optionRows.push(['-h, --help', 'print this help'])
  rows.push(...argumentRows, ...optionRows)
  const width = Math.max(...rows.map(([left]) => left.length))
  const table = (part: [string, string][]): string[] => part.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`)
  if (argumentRows.length > 0) lines.push('', 'Arguments:', ...table(argumentRows))
  lines.push('', 'Options:', ...table(optionRows))
  return `${lines.join('\n')}\n`
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
  switch (option.type) {
    case 'boolean':
      return option.description
    case 'list':
      return `${option.description}; repeatable`
    case 'integer':
      return `${option.description}: ${rangeText(option.min, option.max)}${defaultText(option.default)}`
    case 'enum':
      return `${option.description}: one of ${option.choices.join(', ')}${defaultText(option.default)}`
    case 'string':
    case 'path':
      return `${option.description}${defaultText(option.default)}`
  }
}

function defaultText(value: string | number | undefined): string {
  return value === undefined ? '' : ` (default: ${value})`
}
