import type { KorvVerb } from './constants.ts'
import type { KorvHandler } from './handler.ts'

const nameOf = (body: unknown): string => {
  const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined
  return typeof name === 'string' ? name : ''
}

/** The routes `korv serve` answers (api.md): /hello, /echo and an in-memory /items map. */
export function createDemoRoutes(): Record<KorvVerb, Record<string, KorvHandler>> {
  const items = new Map<string, unknown>()
  return {
    GET: {
      '/hello': () => ({ code: 200, body: { msg: 'Hello World!' } }),
      '/echo': (ctx) => ({ code: 200, body: ctx.body }),
      '/items': () => ({ code: 200, body: [...items.values()] }),
    },
    STORE: {
      '/items': (ctx) => {
        items.set(nameOf(ctx.body), ctx.body)
        return { code: 200, body: { stored: ctx.body } }
      },
    },
    UPDATE: {
      '/items': (ctx) => {
        items.set(nameOf(ctx.body), ctx.body)
        return { code: 200, body: { updated: ctx.body } }
      },
    },
    DELETE: {
      '/items': (ctx) => {
        if (ctx.body === null) items.clear()
        else items.delete(nameOf(ctx.body))
        return { code: 200, body: null }
      },
    },
  }
}
