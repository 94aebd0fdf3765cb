// Call text and file parts of a call, as both clients send them: no `node:` module and no Buffer here.
import { UsageError } from '@proto/framing/errors'
import { encodeJson } from './codec.ts'
import { FILE_PREFIX } from './constants.ts'

/** Names a caller may give its own file parts (`files: { name: input }`). */
export const FILE_NAME = /^[A-Za-z_][A-Za-z0-9._-]{0,63}$/

/** A call ready to go: its JSON text and its file parts, in order. */
export interface PreparedCall<F> {
  readonly text: string
  readonly files: readonly { readonly field: string; readonly input: F }[]
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * The call text and file parts of a call: top-level file inputs (array elements, object
 * values, or `params` itself) become `__file__:1`, `__file__:2`, …; `named` adds parts for
 * references the caller wrote.
 * @throws {UsageError} for a method that is not a string or a bad file part name
 * @throws {KrpcUnserializableError} for params or pmhparams that are not plain data
 */
export function prepareCall<F>(method: string, params: unknown, pmhparams: unknown,
  named: Readonly<Record<string, unknown>> | undefined, isFile: (value: unknown) => value is F): PreparedCall<F> {
  if (typeof method !== 'string') throw new UsageError('the method name must be a string')
  const files: { field: string; input: F }[] = []
  const ref = (value: unknown): unknown => {
    if (!isFile(value)) return value
    const field = `${FILE_PREFIX}${files.length + 1}`
    files.push({ field, input: value })
    return field
  }
  let sent: unknown
  if (params === undefined) sent = []
  else if (Array.isArray(params)) sent = params.map(ref)
  else if (isFile(params)) sent = ref(params)
  else if (isPlainObject(params)) sent = Object.fromEntries(Object.entries(params).map(([key, value]) => [key, ref(value)]))
  else sent = params
  if (named !== undefined) {
    for (const [name, input] of Object.entries(named)) {
      // Automatic names are digits and these start with a letter or `_`, so the two never meet.
      if (!FILE_NAME.test(name)) throw new UsageError(`file part name ${JSON.stringify(name)} must match ${String(FILE_NAME)}`)
      if (!isFile(input)) throw new UsageError(`files.${name} is not a file input`)
      files.push({ field: FILE_PREFIX + name, input })
    }
  }
  const text = encodeJson({ method, params: sent, pmhparams: pmhparams ?? null })
  return { text, files }
}
