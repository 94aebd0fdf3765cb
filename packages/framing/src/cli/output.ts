// CliOutput: a verb's stdout and stderr, with peer text escaped and stdout's backpressure honoured.
import type { Writable } from 'node:stream'
import { escapeControl } from '../escape.ts'
import { CliOutputError } from './errors.ts'

// JSON.stringify leaves DEL, C1 controls and U+2028/U+2029 as they are; inside a JSON string
// each may be written `\uXXXX` instead, which keeps the value and the terminal safe.
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029]/g

/**
 * `value` as one line of JSON with nothing a terminal acts on: what `JSON.stringify` gives, with
 * DEL, C1 controls, U+2028 and U+2029 also written as `\uXXXX` (C0 controls and lone surrogates
 * it escapes itself). A value JSON cannot hold (`undefined`, a function) is written `null`.
 */
export function jsonLine(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null'
  return text.replace(JSON_UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * Where a verb prints. `print` and `warn` escape every line with `escapeControl`, once, here:
 * a verb passes peer text as it came. `print`, `printJson` and `write` resolve once stdout can
 * take more, so a verb that awaits them holds no more than a stream's buffer however much it
 * prints. A stdout failure (a closed pipe) rejects them with `CliOutputError`, never crashes.
 */
export class CliOutput {
  readonly #stdout: Writable
  readonly #stderr: Writable
  #failure: CliOutputError | undefined
  #drained: Promise<void> | undefined

  constructor(stdout: Writable, stderr: Writable) {
    this.#stdout = stdout
    this.#stderr = stderr
    stdout.on('error', (err: Error) => {
      this.#failure ??= new CliOutputError({ cause: err })
    })
    // A failed stderr has nowhere left to report to: its lines are dropped.
    stderr.on('error', () => {})
  }

  /** The stdout failure, once there has been one. */
  get failure(): CliOutputError | undefined {
    return this.#failure
  }

  /** Prints `text`, escaped, and a newline on stdout. */
  print(text: string): Promise<void> {
    return this.#send(`${escapeControl(text)}\n`)
  }

  /** Prints `value` as one line of JSON (see `jsonLine`) on stdout. */
  printJson(value: unknown): Promise<void> {
    return this.#send(`${jsonLine(value)}\n`)
  }

  /** Writes `bytes` to stdout as they are: only for output a user sends to a file or a pipe, such as a binary result. */
  write(bytes: Uint8Array): Promise<void> {
    return this.#send(bytes)
  }

  /** Prints `text`, escaped, and a newline on stderr. */
  warn(text: string): void {
    this.#stderr.write(`${escapeControl(text)}\n`)
  }

  #send(chunk: string | Uint8Array): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    if (this.#stdout.write(chunk)) return Promise.resolve()
    this.#drained ??= new Promise<void>((resolve, reject) => {
      const stdout = this.#stdout
      const settle = (): void => {
        stdout.off('drain', settle)
        stdout.off('error', settle)
        stdout.off('close', settle)
        this.#drained = undefined
        if (this.#failure === undefined && stdout.writable) resolve()
        else reject(this.#failure ?? new CliOutputError({ cause: new Error('stdout closed') }))
      }
      stdout.on('drain', settle)
      stdout.on('error', settle)
      stdout.on('close', settle)
    })
    return this.#drained
  }
}
