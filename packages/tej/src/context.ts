// The context a handler receives beside each frame.
import type { PeerInfo } from '@proto/framing'
import type { TejConnection, TejContext } from './types.ts'

/** The context of every frame of `connection`: one object per connection, made once. */
export function makeContext(connection: TejConnection, remote: PeerInfo): TejContext {
  return Object.freeze({ remote, signal: connection.signal, connection })
}
