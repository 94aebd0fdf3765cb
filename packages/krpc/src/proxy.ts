// `client.methods`: method names as property paths, in Node and in browsers alike.
import type { KrpcProxy } from './types.ts'

export function createProxy(invoke: (method: string, args: unknown[]) => Promise<unknown>, path = ''): KrpcProxy {
  const target = (): void => {}
  return new Proxy(target, {
    get(_target, key) {
      if (typeof key !== 'string' || key === 'then') return undefined
      return createProxy(invoke, path === '' ? key : `${path}.${key}`)
    },
    apply(_target, _this, args: unknown[]) {
      return invoke(path, args)
    },
  }) as unknown as KrpcProxy
}
