/** Enforces the SSH channel window the server granted, which ssh2 only checks when it is exactly 0. */
import type { Buffer } from 'node:buffer'

/** The parts of an ssh2 channel the guard reads; ssh2 keeps them undocumented. */
interface WindowedChannel {
  incoming: { window: number; packetSize: number }
  push(chunk: Buffer | null): boolean
}

/**
 * Wraps `channel.push`, which ssh2 calls after taking a packet's length off the window. Data past
 * the window by more than one maximum packet calls `onOverrun` once and is dropped: ssh2 drops
 * excess data only at a window of exactly 0, so a packet that took it below 0 would let
 * everything after it in, unbounded.
 */
export function guardWindow(channel: object, onOverrun: (window: number) => void): void {
  const target = channel as WindowedChannel
  const push = target.push.bind(target)
  let overrun = false
  target.push = (chunk: Buffer | null): boolean => {
    if (chunk === null || (!overrun && target.incoming.window >= -target.incoming.packetSize)) return push(chunk)
    if (!overrun) {
      overrun = true
      onOverrun(target.incoming.window)
    }
    return false
  }
}
