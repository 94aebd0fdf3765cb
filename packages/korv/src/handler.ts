/** Checks what a handler returned before it is sent. */
import { KorvBadHandlerResultError } from './errors.ts'

/** The code and body to send for what a handler returned, or `ERR_KORV_BAD_HANDLER_RESULT`. */
export function checkResult(result: unknown): { code: number; body: unknown } {
  if (result === undefined) return { code: 200, body: null }
  if (typeof result !== 'object' || result === null) {
    throw new KorvBadHandlerResultError(`handler returned ${typeof result}, not { code, body }`)
  }
  const { code, body } = result as { code?: unknown; body?: unknown }
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 100 || code > 599) {
    throw new KorvBadHandlerResultError(`handler returned code ${String(code)}, not an integer from 100 to 599`)
  }
  return { code, body: body ?? null }
}
