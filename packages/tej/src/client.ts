// connect(): framing's connectStream opens the socket (TCP, unix, TLS or a given stream), then it is a TEJ connection.
import { connectStream, peerInfo } from '@proto/framing'
import { Connection } from './connection.ts'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { TEJ_ERRORS } from './errors.ts'
import { resolveConnectOptions } from './limits.ts'
import type { TejConnectOptions, TejConnection } from './types.ts'

/**
 * Opens a TEJ connection; resolves once the socket is connected, or its TLS handshake done (TEJ
 * itself has no handshake).
 * @throws {TejConnectError} naming the target, with the net or TLS error as `cause`
 * @throws {TejTimeoutError} when `connectTimeout` passes first
 * @throws {UsageError} for an unknown option name, a value out of range, or a target that is not one
 * @throws the signal's reason when it aborts first
 */
export async function connect(options: TejConnectOptions = {}): Promise<TejConnection> {
  const resolved = resolveConnectOptions(options)
  const stream = await connectStream(options, { host: DEFAULT_HOST, port: DEFAULT_PORT, errors: TEJ_ERRORS })
  const handler = resolved.handler
  return new Connection(stream, { ...resolved, side: 'client', remote: peerInfo(stream), handler: () => handler })
}
