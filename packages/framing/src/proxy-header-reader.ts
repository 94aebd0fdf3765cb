// Reading the PROXY protocol header off a connected socket, leaving the bytes after it unread.
import type { Buffer } from 'node:buffer'
import type { Socket } from 'node:net'
import { DEFAULT_PROXY_HEADER_TIMEOUT } from './constants.ts'
import { ProxyHeaderError } from './errors.ts'
import { rejectWith } from './iterate.ts'
import { checkLimit } from './options.ts'
import { ProxyHeaderDecoder } from './proxy-protocol.ts'
import type { PeerInfo } from './peer-info.ts'
import type { ProxyHeader, ProxyHeaderDecoderInit } from './proxy-protocol.ts'

/** Options of `readProxyHeader`. */
export interface ReadProxyHeaderOptions extends ProxyHeaderDecoderInit {
  /** Milliseconds for the whole header to arrive, counted from the call. @default 10_000 */
  timeout?: number | undefined
  /** Aborting rejects with `signal.reason`. @default undefined */
  signal?: AbortSignal | undefined
}

/** A connection's PROXY header and the peer it names. */
export interface ProxyHeaderResult {
  /** What the header says. */
  header: ProxyHeader
  /** The header's source, or the socket's own peer for a LOCAL header or an unknown transport. */
  remote: PeerInfo
}

// The longest delay a Node timer takes; a longer timeout waits several turns of it.
const MAX_TIMER_DELAY = 2_147_483_647

/**
 * Reads the PROXY protocol header that opens `socket`, before anything else reads from it. The
 * bytes after the header go back to the socket (`unshift`), so the next reader sees the
 * connection as if it had started after the header.
 *
 * On failure the socket is left as it is, neither read further nor closed: the caller reports
 * the peer and destroys the socket.
 * @throws {ProxyHeaderError} (rejects) when the header is malformed (`reason: 'invalid'`), over
 *   `maxBytes` (`'too-large'`), not complete within `timeout` (`'timeout'`), or the connection
 *   ends or fails first (`'closed'`, with the socket's error as `cause`)
 * @throws {UsageError} (rejects) on a bad option
 */
export function readProxyHeader(socket: Socket, opts?: ReadProxyHeaderOptions): Promise<ProxyHeaderResult> {
  let decoder: ProxyHeaderDecoder
  let timeout: number
  try {
    decoder = new ProxyHeaderDecoder(opts)
    timeout = checkLimit('timeout', opts?.timeout, DEFAULT_PROXY_HEADER_TIMEOUT)
  } catch (err) {
    return rejectWith(err)
  }
  const signal = opts?.signal
  if (signal?.aborted === true) return rejectWith(signal.reason)
  // Read now: a socket that closes while the header is awaited no longer knows its peer.
  const peer: PeerInfo = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    let left = timeout
    const arm = (): void => {
      const delay = Math.min(left, MAX_TIMER_DELAY)
      left -= delay
      timer = setTimeout(left > 0 ? arm : onTimeout, delay)
      timer.unref()
    }
    const settle = (): void => {
      clearTimeout(timer)
      socket.off('readable', onReadable)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      socket.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
    }
    const fail = (err: unknown): void => {
      settle()
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort reason is any value
      reject(err)
    }
    const onReadable = (): void => {
      let chunk: Buffer | null
      while ((chunk = socket.read() as Buffer | null) !== null) {
        let decoded
        try {
          decoded = decoder.push(chunk)
        } catch (err) {
          fail(err)
          return
        }
        if (decoded === undefined) continue
        settle()
        if (decoded.offset < chunk.length) socket.unshift(chunk.subarray(decoded.offset))
        const { header } = decoded
        resolve({ header, remote: header.source ?? peer })
        return
      }
    }
    const onEnd = (): void => {
      try {
        decoder.end()
      } catch (err) {
        fail(err)
      }
    }
    const onError = (err: Error): void => {
      fail(new ProxyHeaderError('closed', `the connection failed before its PROXY header was read: ${err.message}`, { cause: err }))
    }
    const onTimeout = (): void => {
      fail(new ProxyHeaderError('timeout', `no complete PROXY header within ${timeout} ms`))
    }
    const onAbort = (): void => {
      fail(signal?.reason)
    }
    if (socket.destroyed || socket.readableEnded) {
      onEnd()
      return
    }
    arm()
    signal?.addEventListener('abort', onAbort)
    socket.on('error', onError)
    socket.on('end', onEnd)
    socket.on('close', onEnd)
    socket.on('readable', onReadable)
  })
}
