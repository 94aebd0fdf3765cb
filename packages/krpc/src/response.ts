// Reading a reply's head and JSON body, as both clients do: no `node:` module and no Buffer here.
import { KrpcBadResponseError, KrpcHttpStatusError, RemoteError } from './errors.ts'

export function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json')
}

function isOk(status: number): boolean {
  return status >= 200 && status < 300
}

/** The error for a reply that is neither binary nor a KRPC JSON body. */
export function unexpectedReply(status: number, statusText: string, detail: string, cause?: unknown): Error {
  if (!isOk(status)) return new KrpcHttpStatusError(status, statusText)
  return new KrpcBadResponseError(`unexpected reply: ${detail}`, status, cause === undefined ? undefined : { cause })
}

/**
 * The value of a JSON reply: `result` as it is, `error` as a `RemoteError` at any status.
 * @throws {RemoteError} for a KRPC error
 * @throws {KrpcHttpStatusError} for another non-2xx reply
 * @throws {KrpcBadResponseError} for another 2xx reply
 */
export function interpretJson(status: number, statusText: string, text: string): unknown {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (err) {
    throw unexpectedReply(status, statusText, 'the body is not JSON', err)
  }
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const reply = body as Record<string, unknown>
    const error = reply.error
    if (typeof error === 'object' && error !== null) {
      const { code, message } = error as Record<string, unknown>
      throw new RemoteError(typeof code === 'number' ? code : Number(code), typeof message === 'string' ? message : String(message),
        status, 'info' in error ? { info: (error as Record<string, unknown>).info } : undefined)
    }
    if ('result' in reply) return reply.result
  }
  throw unexpectedReply(status, statusText, 'a JSON body without result or error')
}
