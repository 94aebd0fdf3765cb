// A file argument as a method reads it: one file part, fed live from the body or from its spool file.
import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import { FILE_HIGH_WATER_MARK } from './constants.ts'
import type { KrpcFile } from './types.ts'

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

