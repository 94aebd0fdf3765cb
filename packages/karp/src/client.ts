// connect(): one KARP connection to a server, over TCP, a unix socket, TLS or a given stream.
import { CONNECT_OPTION_NAMES, checkOptions, connectStream, peerInfo } from '@proto/framing'
import type { OptionNames } from '@proto/framing'
import { Connection } from './connection.ts'
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { KARP_ERRORS } from './errors.ts'
import { handlerTable } from './handlers.ts'
import { LIMIT_NAMES, resolveLimits } from './limits.ts'
import { OPTION_NAMES, resolveConfig } from './options.ts'
import type { KarpConnectOptions, KarpConnection } from './types.ts'

const CONNECT_NAMES = { ...CONNECT_OPTION_NAMES, ...OPTION_NAMES, limits: LIMIT_NAMES } as const satisfies OptionNames<KarpConnectOptions>

/**
 * Opens a connection and resolves once it is up (for TLS, after the handshake); the result both
 * sends requests and serves `handlers` to the other end. `host` defaults to 127.0.0.1 and `port`
 * to 7755; `path` is a unix socket, `socket` an already connected stream.
 * @throws {KarpConnectError} naming the target, with the net or TLS error as `cause`
 * @throws {KarpTimeoutError} after `connectTimeout` (30 000 ms by default)
 * @throws {KarpInvalidRouteError} for a route that is not `[a-z_]+` once lowercased
 * @throws {UsageError} for an unknown option or a bad value
 * @throws the signal's reason when it aborts first
 */
export async function connect(options: KarpConnectOptions = {}): Promise<KarpConnection> {
  checkOptions(options, CONNECT_NAMES, 'connect()')
  const config = resolveConfig(options, resolveLimits(options.limits))
  const handlers = handlerTable(options.handlers)
  const stream = await connectStream(options, { host: DEFAULT_HOST, port: DEFAULT_PORT, connectTimeout: DEFAULT_CONNECT_TIMEOUT, errors: KARP_ERRORS })
  return new Connection(stream, { side: 'client', remote: peerInfo(stream), config, handlers })
}
