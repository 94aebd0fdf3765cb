import type { CliDefinition } from '../../src/cli/definition.ts'
import type { CliIO } from '../../src/cli/run.ts'
import { runCli } from '../../src/cli/run.ts'
import type { MainResult } from '../../src/testing/run-main.ts'
import { runMain } from '../../src/testing/run-main.ts'

/** Runs `cli` in process: its exit code and what it printed. */
export function run(cli: CliDefinition, argv: readonly string[], extra: Partial<Omit<CliIO, 'stdout' | 'stderr'>> = {}): Promise<MainResult> {
  return runMain((args, io) => runCli(cli, args, io), argv, extra)
}

/** A stack frame as Node prints one. */
export const STACK_FRAME = /^\s+at .+(?::\d+:\d+\)?|\(native\))$/m
