// The table of handlers by route, as servers and connections keep it.
import { UsageError } from '@proto/framing'
import { normalizeRoute } from './codec.ts'
import type { KarpHandler, KarpHandlers } from './types.ts'

/**
 * A table keyed by lowercased routes.
 * @throws {KarpInvalidRouteError} for a route that is not `[a-z_]+` once lowercased
 * @throws {UsageError} for a handler that is not a function, or handlers that are not an object
 */
export function handlerTable(handlers: KarpHandlers | undefined): Map<string, KarpHandler> {
  const table = new Map<string, KarpHandler>()
  if (handlers === undefined) return table
  if (typeof handlers !== 'object' || handlers === null) throw new UsageError('handlers must be an object of functions by route')
  for (const [route, handler] of Object.entries(handlers)) addHandler(table, route, handler)
  return table
}

/**
 * Adds or replaces the handler of `route` (lowercased).
 * @throws {KarpInvalidRouteError} for a route that is not `[a-z_]+` once lowercased
 * @throws {UsageError} for a handler that is not a function
 */
export function addHandler(table: Map<string, KarpHandler>, route: string, handler: KarpHandler): void {
  if (typeof handler !== 'function') throw new UsageError(`the handler of route ${JSON.stringify(route)} is not a function`)
  table.set(normalizeRoute(route), handler)
}
