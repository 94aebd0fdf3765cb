// The handlers `karp serve` runs: echo, upper and fail.
import type { KarpHandlers } from './types.ts'

const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** An error whose message a failure reply may carry. */
function publicError(message: string): Error {
  return Object.assign(new Error(message), { expose: true })
}

/** `echo` returns the payload, `upper` the UTF-8 text uppercased, `fail` fails with the message `fail`. */
export const demoHandlers: KarpHandlers = {
  echo: (request) => request.data,
  upper: (request) => {
    let text: string
    try {
      text = utf8Strict.decode(request.data)
    } catch {
      throw publicError('upper needs UTF-8 text')
    }
    return text.toUpperCase()
  },
  fail: () => {
    throw publicError('fail')
  },
}
