// The method table: registered names, each with its function and the object it is called on.
import { UsageError } from '@proto/framing'
import type { KrpcMethod, KrpcMethods, MethodEntry } from './types.ts'

/**
 * Methods by exact name, looked up in a Map and never by property access, so `toString` or
 * `__proto__` is never a method unless registered.
 */
export class MethodTable extends Map<string, MethodEntry> {
  /**
   * Adds every function of `handlers`: nested objects make dotted names, keys may hold dots, and
   * each function is called on the object that holds it. Anything else is that object's own data.
   * @throws {UsageError} for an empty or taken name
   */
  addAll(handlers: KrpcMethods, prefix = ''): void {
    if (typeof handlers !== 'object' || handlers === null) throw new UsageError('handlers must be an object of methods')
    for (const key of Object.keys(handlers)) {
      const value = handlers[key]
      const name = prefix + key
      if (typeof value === 'function') this.#add(name, value, handlers)
      else if (typeof value === 'object' && value !== null) this.addAll(value, `${name}.`)
    }
  }

  /**
   * Adds `fn` under `name`, called with `this` undefined.
   * @throws {UsageError} for a name that is not a string, empty or taken, or a `fn` that is not a function
   */
  addOne(name: string, fn: KrpcMethod): void {
    if (typeof name !== 'string') throw new UsageError('a method name must be a string')
    if (typeof fn !== 'function') throw new UsageError(`method ${name} must be a function`)
    this.#add(name, fn, undefined)
  }

  #add(name: string, fn: KrpcMethod, holder: unknown): void {
    if (name === '') throw new UsageError('a method name must not be empty')
    if (this.has(name)) throw new UsageError(`method ${name} is already registered`)
    this.set(name, { fn, holder })
  }
}
