// A file part written to a temp file because it arrived while another part was still missing.
import { createWriteStream } from 'node:fs'
import type { WriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { FILE_HIGH_WATER_MARK } from './constants.ts'

function noop(): void {}

/**
 * A referenced part that arrived while another was still missing, written to a temp file
 * (mode 0600) so the method can read it once the last part arrives.
 */
export class Spool {
  readonly path: string
  readonly field: string
  readonly filename: string
  readonly mimeType: string
  /** Settles once the part is on disk and the file is closed. */
  readonly done: Promise<void>
  #size = 0
  readonly #source: Readable
  readonly #out: WriteStream
  readonly #limit: number
  readonly #onOverflow: () => void

  constructor(path: string, part: { field: string; filename: string; mimeType: string }, source: Readable,
    limit: number, onOverflow: () => void) {
    this.path = path
    this.field = part.field
    this.filename = part.filename
    this.mimeType = part.mimeType
    this.#source = source
    this.#limit = limit
    this.#onOverflow = onOverflow
    this.#out = createWriteStream(path, { flags: 'wx', mode: 0o600, highWaterMark: FILE_HIGH_WATER_MARK })
    this.done = new Promise<void>((resolve, reject) => {
      this.#out.once('close', () => {
        if (this.#out.writableFinished) resolve()
        else reject(new Error(`spool ${path} closed before it was complete`))
      })
      this.#out.once('error', reject)
      source.once('error', reject)
    })
    // Whoever awaits `done` sees the failure; this only keeps an unawaited spool quiet.
    this.done.catch(noop)
    this.#out.on('drain', this.#onDrain)
    source.on('data', this.#onData)
    source.once('end', this.#onEnd)
  }

  #onData = (chunk: Buffer): void => {
    this.#size += chunk.length
    if (this.#size > this.#limit) {
      this.#source.off('data', this.#onData)
      this.#onOverflow()
      return
    }
    if (!this.#out.write(chunk)) this.#source.pause()
  }

  #onDrain = (): void => {
    this.#source.resume()
  }

  #onEnd = (): void => {
    this.#out.end()
  }

  /** Stops writing, drains what is left of the part, and removes the file; never rejects. */
  async discard(): Promise<void> {
    this.#source.off('data', this.#onData)
    this.#source.off('end', this.#onEnd)
    this.#source.on('error', noop)
    this.#source.resume()
    if (!this.#out.closed) {
      const closed = new Promise<void>((resolve) => this.#out.once('close', resolve))
      this.#out.destroy()
      await closed
    }
    // A file that cannot be removed (its directory's permissions changed) is left to the system's
    // temp cleaning: the request must still end, and a rejection here would reach no one.
    await rm(this.path, { force: true }).catch(noop)
  }
}
