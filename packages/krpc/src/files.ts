import { createReadStream, createWriteStream } from 'node:fs'
import type { WriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { Readable } from 'node:stream'

/** A file argument: the bytes of one file part, readable once, for the length of the call. */
export interface KrpcFile extends Readable {
  /** The part's field name, `__file__:` included. */
  readonly field: string
  /** The part's file name without directories; `''` when it has none. */
  readonly filename: string
  /** The part's media type; `text/plain` when it gives none. */
  readonly mimeType: string
}

/** Memory a file argument holds while its method is not reading. */
export const FILE_HIGH_WATER_MARK = 65_536

type Problem = (err: Error | undefined) => void

/**
 * A file part as a method sees it: fed live from busboy's stream, or from the temp file it was
 * spooled to. Bytes past `fileSize` never reach it: `onProblem` is told at once, and the
 * exchange destroys this stream with the limit error.
 */
export class FileArg extends Readable implements KrpcFile {
  readonly field: string
  readonly filename: string
  readonly mimeType: string
  #source: Readable | undefined
  #live = false
  #received = 0
  readonly #limit: number
  readonly #onProblem: Problem

  constructor(field: string, filename: string, mimeType: string, limit: number, onProblem: Problem) {
    super({ highWaterMark: FILE_HIGH_WATER_MARK })
    this.field = field
    this.filename = filename
    this.mimeType = mimeType
    this.#limit = limit
    this.#onProblem = onProblem
    // A method that never reads its file must not crash the process when the request breaks;
    // one that reads it sees the error as usual.
    this.on('error', noop)
  }

  /** Feeds this argument from the part as busboy parses it. */
  attachLive(source: Readable): void {
    this.#live = true
    this.#attach(source)
  }

  /** Feeds this argument from a finished spool file. */
  attachSpooled(path: string): void {
    this.#attach(createReadStream(path, { highWaterMark: FILE_HIGH_WATER_MARK }))
  }

  #attach(source: Readable): void {
    this.#source = source
    source.on('data', this.#onData)
    source.once('end', this.#onEnd)
    source.once('error', this.#onError)
  }

  #onData = (chunk: Buffer): void => {
    if (this.#live) {
      this.#received += chunk.length
      if (this.#received > this.#limit) {
        this.#detach()
        this.#onProblem(undefined)
        return
      }
    }
    if (!this.push(chunk)) this.#source?.pause()
  }

  #onEnd = (): void => {
    this.#detach()
    this.push(null)
  }

  #onError = (err: Error): void => {
    this.#detach()
    this.#onProblem(err)
    if (!this.destroyed) this.destroy(err)
  }

  #detach(): Readable | undefined {
    const source = this.#source
    if (source === undefined) return undefined
    this.#source = undefined
    source.off('data', this.#onData)
    source.off('end', this.#onEnd)
    source.off('error', this.#onError)
    return source
  }

  override _read(): void {
    this.#source?.resume()
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const source = this.#detach()
    if (source !== undefined) {
      // A live part that the method left unread is drained so busboy can reach the next part; a
      // spool reader is simply closed.
      if (this.#live) {
        source.on('error', noop)
        source.resume()
      } else source.destroy()
    }
    callback(err)
  }
}

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

  /** Stops writing, drains what is left of the part, and removes the file. */
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
    await rm(this.path, { force: true })
  }
}
