/** `KorvLimits` resolution: every limit checked, defaults filled in. */
import { checkLimit } from '@proto/framing'
import type { OptionNames } from '@proto/framing'
import { DEFAULT_LIMITS } from './constants.ts'
import type { KorvLimits } from './constants.ts'

/** Every name of `KorvLimits`, for `checkOptions`. */
export const LIMIT_NAMES = {
  maxMessageBytes: true,
  maxJsonBytes: true,
  maxInFlight: true,
  maxChannels: true,
  maxChannelReplyBytes: true,
  maxConnectionReplyBytes: true,
  maxAuthAttempts: true,
  maxConnections: true,
  handshakeTimeout: true,
  idleTimeout: true,
} as const satisfies OptionNames<KorvLimits>

/** The server's limits: `limits` over `DEFAULT_LIMITS`, each an integer of at least 1 (`idleTimeout`: 0 is off). */
export function checkLimits(limits: Partial<KorvLimits> | undefined): KorvLimits {
  const out = { ...DEFAULT_LIMITS }
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof KorvLimits)[]) {
    out[name] = checkLimit(name, limits?.[name], DEFAULT_LIMITS[name], name === 'idleTimeout' ? 0 : 1)
  }
  return out
}
