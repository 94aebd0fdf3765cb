// The one error format of every bin: what a thrown value says, its code, its causes and its exit code.

/**
 * Set to `true` on an error class's prototype to make the CLI treat its errors as reported by the
 * peer (exit code 1), as it does every error named `RemoteError`. A package whose peer reports
 * errors some other way (krpc's HTTP status errors) marks its class with it. It is
 * `Symbol.for('@proto/remote-error')`, so browser code can set it without importing this module.
 */
export const REMOTE_ERROR: unique symbol = Symbol.for('@proto/remote-error')

/**
 * The key of an error's details: an object of JSON values (a getter on the error class's
 * prototype, say) that the CLI prints under the error's line, `  <name>: <JSON>` each, and adds
 * to its `--json` object, never over `code`, `message` or `cause`. What a peer reported beyond a
 * message goes there (krpc's `RemoteError` gives its `rpcCode` and `data`). It is
 * `Symbol.for('@proto/error-details')`, so browser code can set it without importing this module.
 */
export const ERROR_DETAILS: unique symbol = Symbol.for('@proto/error-details')

/** The `{ code, message }` of an error in `--json` output, with its details and its cause nested the same way. */
export interface ErrorJson {
  /** See `errorCode`. */
  code: string
  /** See `errorMessage`. */
  message: string
  /** The cause, the same way, when there is one. */
  cause?: ErrorJson
  /** The error's details (`ERROR_DETAILS`), when it has any. */
  [detail: string]: unknown
}

const RESERVED = new Set(['code', 'message', 'cause'])

// Deep enough for any chain we build; the bound only stops a cycle or a pathological chain.
const MAX_CAUSES = 8

/** True when `err` is the peer's report: named `RemoteError`, or marked with `REMOTE_ERROR`. */
export function isRemoteError(err: unknown): boolean {
  return read(() => {
    if (typeof err !== 'object' || err === null) return false
    return (err as { name?: unknown }).name === 'RemoteError' || (err as Record<symbol, unknown>)[REMOTE_ERROR] === true
  }, false)
}

/** The exit code for a verb that threw `err`: 1 when the peer reported it, else 2. */
export function exitCodeOf(err: unknown): 1 | 2 {
  return isRemoteError(err) ? 1 : 2
}

/**
 * The code of anything thrown: its string `code` (`ERR_ONELINE_CONNECT`, `ECONNREFUSED`), else its
 * `name` (`TimeoutError` for a DOMException, whose code is a number), else `ERR_UNKNOWN`.
 */
export function errorCode(err: unknown): string {
  return read(() => {
    if (typeof err === 'object' && err !== null) {
      const { code, name } = err as { code?: unknown; name?: unknown }
      if (typeof code === 'string' && code !== '') return code
      if (typeof name === 'string' && name !== '') return name
    }
    return 'ERR_UNKNOWN'
  }, 'ERR_UNKNOWN')
}

/**
 * The message of anything thrown: an error's `message`; for an empty one (Node's AggregateError of
 * a dual-stack connect), the messages of its `errors`; for any other value, its text.
 */
export function errorMessage(err: unknown): string {
  return read(() => {
    if (typeof err === 'object' && err !== null) {
      const { message, errors } = err as { message?: unknown; errors?: unknown }
      if (typeof message === 'string' && message !== '') return message
      if (Array.isArray(errors) && errors.length > 0) return errors.map((inner) => errorMessage(inner)).join('; ')
      if (typeof message === 'string') return errorCode(err)
      return Object.prototype.toString.call(err)
    }
    return String(err)
  }, 'an error that cannot be read')
}

/** The details of `err` (`ERROR_DETAILS`) that can be printed: JSON values, under names other than the reserved ones. */
function errorDetails(err: unknown): [string, unknown][] {
  return read(() => {
    if (typeof err !== 'object' || err === null) return []
    const details = (err as Record<symbol, unknown>)[ERROR_DETAILS]
    if (typeof details !== 'object' || details === null) return []
    return Object.entries(details).filter(([name, value]) => !RESERVED.has(name) && jsonText(value) !== undefined)
  }, [])
}

/** `value` as one line of JSON; undefined when it has none (a function, a cycle, a bigint). */
function jsonText(value: unknown): string | undefined {
  return read(() => JSON.stringify(value) as string | undefined, undefined)
}

/** `err`, then each `cause` below it, as far as `MAX_CAUSES` levels, stopping at a repeat. */
function chain(err: unknown): unknown[] {
  const levels: unknown[] = [err]
  const seen = new Set<unknown>([err])
  let current = err
  while (levels.length <= MAX_CAUSES) {
    const cause = read(() => (typeof current === 'object' && current !== null ? (current as { cause?: unknown }).cause : undefined), undefined)
    if (cause === undefined || cause === null || seen.has(cause)) break
    seen.add(cause)
    levels.push(cause)
    current = cause
  }
  return levels
}

/**
 * The lines a bin prints on stderr for `err`: `<bin>: <message> (<code>)`, then
 * `  cause: <message> (<code>)` for each cause, each level followed by its details
 * (`  <name>: <JSON>`). Never a stack trace. Unescaped: print them
 * through `CliOutput.warn`.
 */
export function describeError(bin: string, err: unknown): string[] {
  return chain(err).flatMap((level, i) => [
    `${i === 0 ? `${bin}: ` : '  cause: '}${errorMessage(level)} (${errorCode(level)})`,
    ...errorDetails(level).map(([name, value]) => `  ${name}: ${jsonText(value) ?? ''}`),
  ])
}

/** `err` as `--json` prints it: `{ code, message }` and its details, with `cause` nested when it has one. */
export function errorJson(err: unknown): ErrorJson {
  const levels = chain(err)
  let json: ErrorJson | undefined
  for (let i = levels.length - 1; i >= 0; i--) {
    const level = levels[i]
    json = {
      code: errorCode(level),
      message: errorMessage(level),
      ...Object.fromEntries(errorDetails(level)),
      ...(json === undefined ? {} : { cause: json }),
    }
  }
  return json ?? { code: errorCode(err), message: errorMessage(err) }
}

// A getter that throws, or a proxy, must not turn the error report into a crash.
function read<T>(get: () => T, fallback: T): T {
  try {
    return get()
  } catch {
    return fallback
  }
}
