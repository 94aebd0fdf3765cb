// The handler `oneline serve` answers with.
import type { OnelineHandler } from './types.ts'

/** The largest `count` the demo answers; more would only be a way to flood the client. */
export const DEMO_MAX_COUNT = 10_000

const COUNT = /^count ([0-9]{1,5})$/

/**
 * What `oneline serve` answers: `echo TEXT` → `TEXT`; `count N` → the lines `1`..`N` for N from 0
 * to 10 000; a command that is not valid UTF-8 → `invalid`; anything else → `unknown: <command>`.
 */
export const demoHandler: OnelineHandler = (command, ctx) => {
  if (ctx.invalid) return 'invalid'
  if (command.startsWith('echo ')) return command.slice('echo '.length)
  const count = COUNT.exec(command)?.[1]
  if (count !== undefined && Number(count) <= DEMO_MAX_COUNT) {
    return Array.from({ length: Number(count) }, (_, i) => String(i + 1))
  }
  return `unknown: ${command}`
}
