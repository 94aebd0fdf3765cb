const ABORTED: unique symbol = Symbol('aborted')

/** `promise`, or a rejection with `signal.reason` as soon as the signal aborts. */
export async function raceAbort<V>(promise: Promise<V>, signal: AbortSignal): Promise<V> {
  signal.throwIfAborted()
  let onAbort = (): void => undefined
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => {
      resolve(ABORTED)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    // The abort side resolves rather than rejects: it outlives the race, and must never turn
    // into an unhandled rejection when the signal aborts later.
    const result = await Promise.race([promise, aborted])
    if (result === ABORTED) signal.throwIfAborted()
    return result as V
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
