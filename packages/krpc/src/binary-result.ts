// How a binary reply is told apart from a result, in Node and in browsers alike.
import type { BinaryResult } from './types.ts'

export const BINARY_RESULT = Symbol.for('@proto/krpc/binary-result')

/** True for what `call()` returns for an `application/octet-stream` reply. */
export function isBinaryResult(value: unknown): value is BinaryResult {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BINARY_RESULT] === true
}
