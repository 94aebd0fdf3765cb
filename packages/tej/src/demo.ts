// The demo handler `tej serve` runs: every frame echoed back unchanged.
import type { TejHandler } from './types.ts'

/**
 * Sends each frame back as it came (status, files, message). It is buffered first, so it is
 * bounded by `maxBufferedBytes`, and the echo of one peer never waits on another's reading.
 */
export const echoHandler: TejHandler = async (frame, ctx) => {
  await ctx.connection.send(await frame.buffer())
}
