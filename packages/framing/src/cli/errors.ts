// The errors of the command-line core: usage mistakes, unreadable input, lost output, interruption, listen failures.
import { ProtoError } from '../errors.ts'

/** Every code the command-line core raises itself; match on `err.code`. */
export const CliErrorCode = {
  USAGE: 'ERR_PROTO_CLI_USAGE',
  READ: 'ERR_PROTO_CLI_READ',
  OUTPUT: 'ERR_PROTO_CLI_OUTPUT',
  INTERRUPTED: 'ERR_PROTO_CLI_INTERRUPTED',
} as const

/** Any code of `CliErrorCode`. */
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode]

/** A command line that does not fit the declaration: reported with the usage, exit code 2. */
export class CliUsageError extends ProtoError {
  override name = 'CliUsageError'
  override readonly code: typeof CliErrorCode.USAGE = CliErrorCode.USAGE
}

/** A file or stdin named on the command line, or the package.json holding the version, could not be read; `cause` is the system error. */
export class CliReadError extends ProtoError {
  override name = 'CliReadError'
  override readonly code: typeof CliErrorCode.READ = CliErrorCode.READ
}

/** stdout failed (a closed pipe, say); nothing more can be printed there. `cause` is the stream error. */
export class CliOutputError extends ProtoError {
  override name = 'CliOutputError'
  override readonly code: typeof CliErrorCode.OUTPUT = CliErrorCode.OUTPUT

  constructor(options?: ErrorOptions) {
    super('cannot write to stdout', options)
  }
}

/** SIGINT or SIGTERM arrived: the reason of the stop signal a verb receives. */
export class CliInterruptedError extends ProtoError {
  override name = 'CliInterruptedError'
  override readonly code: typeof CliErrorCode.INTERRUPTED = CliErrorCode.INTERRUPTED
  /** The signal's name, such as `SIGINT`. */
  readonly signal: string

  constructor(signal: string) {
    super(`interrupted by ${signal}`)
    this.signal = signal
  }
}

/**
 * A server could not listen and the error it gave is not already a `@proto` error: reported under
 * the bin's own code, `ERR_<BIN>_LISTEN`, with that error as `cause`.
 */
export class CliListenError extends ProtoError {
  override name = 'CliListenError'
  override readonly code: string

  constructor(code: string, where: string, options?: ErrorOptions) {
    super(`cannot listen on ${where}`, options)
    this.code = code
  }
}
