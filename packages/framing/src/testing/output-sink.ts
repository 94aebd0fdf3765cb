// OutputSink: an in-memory Writable that keeps what a bin prints and tells when it holds something.
import { Buffer } from 'node:buffer'
import { StringDecoder } from 'node:string_decoder'
import { Writable } from 'node:stream'

/**
 * A stream to pass as `stdout` or `stderr` of a bin's `main` in a test: it keeps every byte
 * written, as text and as bytes, and resolves waits once the output holds a line, a string or a
 * match, so that a test waits on what a bin printed rather than on time.
 */
export class OutputSink extends Writable {
  #chunks: Buffer[] = []
  #text = ''
  // A character split across writes is decoded whole, once its last byte arrives.
  #decoder = new StringDecoder('utf8')
  #waiters = new Set<() => void>()

  /** Keeps a written chunk and wakes the waits it may satisfy. */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.#chunks.push(chunk)
    this.#text += this.#decoder.write(chunk)
    for (const check of this.#waiters) check()
    callback()
  }

  /** Everything written so far, decoded as UTF-8. */
  get text(): string {
    return this.#text
  }

  /** Everything written so far, byte for byte. */
  get bytes(): Buffer {
    return Buffer.concat(this.#chunks)
  }

  /** Resolves with the first line, without its LF, once it is complete. */
  async firstLine(): Promise<string> {
    // Not `.*`: a dot stops at CR and U+2028, and the wait would never end.
    const [, line = ''] = await this.until(/^([^\n]*)\n/)
    return line
  }

  /** Resolves once the text holds `part`. */
  async holds(part: string): Promise<void> {
    await this.#wait(() => (this.#text.includes(part) ? true : undefined))
  }

  /** Resolves with the first match of `pattern` in the text, once there is one. */
  until(pattern: RegExp): Promise<RegExpExecArray> {
    return this.#wait(() => pattern.exec(this.#text) ?? undefined)
  }

  #wait<T>(test: () => T | undefined): Promise<T> {
    return new Promise((resolve) => {
      const check = (): void => {
        const found = test()
        if (found === undefined) return
        this.#waiters.delete(check)
        resolve(found)
      }
      this.#waiters.add(check)
      check()
    })
  }
}
