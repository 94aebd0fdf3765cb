// Framing's errors rethrown under a package's codes. Browser-safe: no `node:` modules.
import { ErrorCode, isProtoError } from './errors.ts'
import type { ProtoError } from './errors.ts'

/**
 * The framing codes a package gives its own errors for. `ERR_PROTO_USAGE` (a bad option) and
 * `ERR_PROTO_WRITE_BUFFER_FULL` keep their code everywhere; `ERR_PROTO_CLOSED` has its own hook.
 */
export type MappedCode = Exclude<ErrorCode, typeof ErrorCode.USAGE | typeof ErrorCode.WRITE_BUFFER_FULL | typeof ErrorCode.CLOSED>

/** How a package turns framing's errors into its own. */
export interface ErrorMapping {
  /** The package's error for each framing code it maps, made from the framing error (give it as `cause`). @default {} */
  readonly codes?: { readonly [C in MappedCode]?: (err: ProtoError) => Error } | undefined
  /**
   * The package's error for a framing `ClosedError`: `message` is the ClosedError's, `cause` what
   * ended the stream (the ClosedError's cause, a socket error or the error the connection was
   * destroyed with, looked up through nested ClosedErrors), else the ClosedError itself.
   * @default the fallback, given the ClosedError
   */
  readonly closed?: ((message: string, cause: unknown) => unknown) | undefined
  /**
   * What any other error becomes: a foreign one (a socket's, zlib's) or a framing code without an
   * entry in `codes`. The package's own errors and the two codes that are never mapped do not
   * come here.
   * @default the error as it is
   */
  readonly fallback?: ((err: unknown) => unknown) | undefined
}

const KEPT: ReadonlySet<string> = new Set([ErrorCode.USAGE, ErrorCode.WRITE_BUFFER_FULL])

/**
 * A function that rethrows framing's errors (`ERR_PROTO_*`) under a package's codes, as the
 * mapping says. A `@proto` error with any other code (the package's own) is returned as it is,
 * and so are `ERR_PROTO_USAGE` and `ERR_PROTO_WRITE_BUFFER_FULL`. Codes are compared rather than
 * classes, so an error from a second installed copy of framing maps the same.
 */
export function errorMapper(mapping: ErrorMapping): (err: unknown) => unknown {
  const codes: Partial<Record<string, (err: ProtoError) => Error>> = mapping.codes ?? {}
  const { closed, fallback } = mapping
  return (err) => {
    if (!isProtoError(err)) return fallback === undefined ? err : fallback(err)
    const code = err.code
    if (!code.startsWith('ERR_PROTO_') || KEPT.has(code)) return err
    if (code === ErrorCode.CLOSED && closed !== undefined) return closed(err.message, endedBy(err))
    const factory = codes[code]
    if (factory !== undefined) return factory(err)
    return fallback === undefined ? err : fallback(err)
  }
}

/** What ended a connection, below the ClosedErrors that report it. */
function endedBy(err: ProtoError): unknown {
  let closed = err
  for (;;) {
    const cause: unknown = closed.cause
    if (cause === undefined) return closed
    if (!isProtoError(cause) || cause.code !== ErrorCode.CLOSED) return cause
    closed = cause
  }
}
