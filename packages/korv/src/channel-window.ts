/** Enforces the SSH channel window the server granted, and bounds the memory of what waits unread on a channel. */
import type { Buffer } from 'node:buffer'

/** The parts of an ssh2 channel the guard reads and wraps; ssh2 keeps them undocumented. */
interface WindowedChannel {
  incoming: { window: number; packetSize: number }
  push(chunk: Buffer | null): boolean
  _read(size: number): void
  on(event: 'data', listener: (chunk: Buffer) => void): unknown
}

/**
 * What one unread packet costs beside its data: measured at 800 to 1040 bytes of RSS per 1-byte
 * packet (ssh2's decrypted payload, the slice, the stream's buffer entry).
 */
export const PACKET_OVERHEAD = 1024
/** Memory of unread packets past which the server stops widening the window. */
export const SOFT_BUFFER_BYTES = 2 * 1024 * 1024
/** Memory of unread packets past which the connection ends: only packets far smaller than any message get there. */
export const HARD_BUFFER_BYTES = 16 * 1024 * 1024

/** What the guard reports. */
export interface WindowViolations {
  /** Data past the window by more than one maximum packet; `window` is ssh2's count, below 0. */
  overrun(window: number): void
  /** Unread packets hold more than `HARD_BUFFER_BYTES` of memory. */
  overfull(held: number, packets: number): void
}

/**
 * Wraps `channel.push`, which ssh2 calls after taking a packet's length off the window, and
 * `channel._read`, which widens the window. Data past the window by more than one maximum packet
 * is dropped and reported once: ssh2 drops excess data only at a window of exactly 0, so a packet
 * that took it below 0 would let everything after it in. ssh2 also widens the window while the
 * stream holds fewer bytes than its high-water mark, counting bytes, not packets: 2 MiB of 1-byte
 * packets would pin about 2 GiB. The guard counts each unread packet at its length plus
 * `PACKET_OVERHEAD`, stops widening the window past `SOFT_BUFFER_BYTES`, and reports a peer that
 * still fills `HARD_BUFFER_BYTES`.
 */
export function guardWindow(channel: object, report: WindowViolations): void {
  const target = channel as WindowedChannel
  const push = target.push.bind(target)
  const read = target._read.bind(target)
  let failed = false
  let held = 0
  let packets = 0
  let starved = false
  target.push = (chunk: Buffer | null): boolean => {
    if (chunk === null) return push(chunk)
    if (failed) return false
    if (target.incoming.window < -target.incoming.packetSize) {
      failed = true
      report.overrun(target.incoming.window)
      return false
    }
    held += chunk.length + PACKET_OVERHEAD
    packets++
    if (held > HARD_BUFFER_BYTES) {
      failed = true
      report.overfull(held, packets)
      return false
    }
    return push(chunk) && held < SOFT_BUFFER_BYTES
  }
  target._read = (size: number): void => {
    if (held >= SOFT_BUFFER_BYTES) {
      starved = true
      return
    }
    read(size)
  }
  target.on('data', (chunk: Buffer) => {
    held -= chunk.length + PACKET_OVERHEAD
    packets--
    if (starved && held < SOFT_BUFFER_BYTES) {
      starved = false
      read(0)
    }
  })
}
