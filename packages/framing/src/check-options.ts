// The check that refuses unknown option names, naming the closest valid one. Browser-safe.
import { UsageError } from './errors.ts'
import { closest } from './suggest.ts'

/**
 * Valid option names, each `true`, or, for an option that is itself an object of options (such
 * as `limits`), the valid names inside it, checked the same way.
 */
export interface KnownOptions {
  readonly [name: string]: true | KnownOptions
}

/**
 * Every option name of `T`, none missing and none extra: declare a package's list as
 * `{ host: true, port: true } as const satisfies OptionNames<ConnectOptions>` and the type
 * checker keeps it complete as the options grow. A nested object of options gives its own names
 * (write `satisfies OptionNames<Limits>` on it too); `true` leaves it unchecked (node:tls options).
 */
export type OptionNames<T> = { readonly [K in keyof T]-?: true | KnownOptions }

/**
 * Refuses an own key of `options` that `known` does not list, naming the closest valid one:
 * `unknown option 'timout' for connect() (did you mean 'timeout'?)`, or, for a name that belongs in
 * a nested object, `(did you mean 'limits.idleTimeout'?)`. Nested objects listed with
 * their own names are checked too. `undefined` passes.
 * @param where the call the options belong to, as the message should name it (`connect()`)
 * @throws {UsageError} for an unknown name, or options (or nested options) that are not an object
 */
export function checkOptions(options: unknown, known: readonly string[] | KnownOptions, where: string): void {
  check(options, known, where, '')
}

function check(options: unknown, known: readonly string[] | KnownOptions, where: string, prefix: string): void {
  if (options === undefined) return
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new UsageError(
      prefix === '' ? `the options of ${where} must be an object` : `option '${prefix.slice(0, -1)}' of ${where} must be an object`,
    )
  }
  const names: readonly string[] = isList(known) ? known : Object.keys(known)
  for (const key of Object.keys(options)) {
    const inner = isList(known) ? (names.includes(key) ? true : undefined) : Object.hasOwn(known, key) ? known[key] : undefined
    if (inner === undefined) {
      const near = nestedHome(key, known) ?? closest(key, names)
      const hint = near === undefined ? '' : ` (did you mean '${prefix}${near}'?)`
      throw new UsageError(`unknown option '${prefix}${key}' for ${where}${hint}`)
    }
    if (inner !== true) check((options as Record<string, unknown>)[key], inner, where, `${prefix}${key}.`)
  }
}

/** `limits.idleTimeout` for an `idleTimeout` given at the top: the nested object that has the name. */
function nestedHome(key: string, known: readonly string[] | KnownOptions): string | undefined {
  if (isList(known)) return undefined
  for (const [name, inner] of Object.entries(known)) {
    if (inner !== true && Object.hasOwn(inner, key)) return `${name}.${key}`
  }
  return undefined
}

function isList(known: readonly string[] | KnownOptions): known is readonly string[] {
  return Array.isArray(known)
}
