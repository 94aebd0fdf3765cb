// The quick parse of a small urlencoded form, read whole: the checks busboy makes, without a busboy.
import type { FieldInfo } from 'busboy'
import { KrpcBadRequestError } from './errors.ts'
import type { KrpcRequestError } from './errors.ts'

/** Urlencoded bodies up to this size are parsed whole, without busboy. */
export const QUICK_FORM_BYTES = 65_536

const QUICK_FIELD: FieldInfo = { nameTruncated: false, valueTruncated: false, encoding: 'utf-8', mimeType: 'text/plain' }
// What busboy calls a malformed form: a `%` without two hex digits after it.
const MALFORMED_ESCAPE = /%(?![0-9A-Fa-f]{2})/

/**
 * Parses a whole small form and hands each field to `onField`, as busboy would; false when the
 * form is malformed or a field fails (`sink` has then been told).
 */
export function quickForm(body: Buffer, onField: (name: string, value: string, info: FieldInfo) => void,
  sink: { readonly failed: boolean; fail(err: KrpcRequestError): void }): boolean {
  const text = body.toString('utf8')
  if (MALFORMED_ESCAPE.test(text)) {
    sink.fail(new KrpcBadRequestError('Malformed request body.', 400))
    return false
  }
  for (const [name, value] of new URLSearchParams(text)) {
    onField(name, value, QUICK_FIELD)
    if (sink.failed) return false
  }
  return true
}
