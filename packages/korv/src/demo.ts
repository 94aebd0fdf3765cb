/** The demo handlers `korv serve` runs. */
import type { KorvVerb } from './constants.ts'
import type { KorvHandler } from './types.ts'

const nameOf = (body: unknown): string => {
  const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined
  return typeof name === 'string' ? name : ''
}

/** The handlers `korv serve` runs (api.md): /hello, /echo and an in-memory /items map. */
export function createDemoHandlers(): Record<KorvVerb, Record<string, KorvHandler>> {
  const items = new Map<string, unknown>()
  return {
    GET: {
      '/hello': () => ({ code: 200, body: { msg: 'Hello World!' } }),
      '/echo': (request) => ({ code: 200, body: request.body }),
      '/items': () => ({ code: 200, body: [...items.values()] }),
    },
    STORE: {
      '/items': (request) => {
        items.set(nameOf(request.body), request.body)
        return { code: 200, body: { stored: request.body } }
      },
    },
    UPDATE: {
      '/items': (request) => {
        items.set(nameOf(request.body), request.body)
        return { code: 200, body: { updated: request.body } }
      },
    },
    DELETE: {
      '/items': (request) => {
        if (request.body === null) items.clear()
        else items.delete(nameOf(request.body))
        return { code: 200, body: null }
      },
    },
  }
}
