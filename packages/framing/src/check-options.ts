// The check that refuses unknown option names, naming the closest valid one. Browser-safe.
import { UsageError } from './errors.ts'

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
 * `unknown option 'timout' for connect() (did you mean 'timeout'?)`. Nested objects listed with
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
      const closest = closestName(key, names)
      const hint = closest === undefined ? '' : ` (did you mean '${prefix}${closest}'?)`
      throw new UsageError(`unknown option '${prefix}${key}' for ${where}${hint}`)
    }
    if (inner !== true) check((options as Record<string, unknown>)[key], inner, where, `${prefix}${key}.`)
  }
}

function isList(known: readonly string[] | KnownOptions): known is readonly string[] {
  return Array.isArray(known)
}

/** The valid name nearest to `name` by edit distance, ignoring case, if it is near enough to be a slip. */
function closestName(name: string, names: readonly string[]): string | undefined {
  const lower = name.toLowerCase()
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of names) {
    const distance = editDistance(lower, candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  // Two slips in a short name, or one in three characters of a long one; further off is a guess.
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined
}

/** Levenshtein distance with adjacent transpositions counted as one edit. */
function editDistance(a: string, b: string): number {
  let beforePrevious: number[] = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let distance = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, (beforePrevious[j - 2] ?? 0) + 1)
      }
      current.push(distance)
    }
    beforePrevious = previous
    previous = current
  }
  return previous[b.length] ?? 0
}
