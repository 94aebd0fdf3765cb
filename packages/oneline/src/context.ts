// The context a handler receives with a command, and the lines it sends through it.
import type { CallOptions, FramedConnection, PeerInfo } from '@proto/framing'
import { encodeLine } from './codec.ts'
import { OnelineUnpromptedError } from './errors.ts'
import type { OnelineConnection, OnelineContext } from './types.ts'

const ignore = (): void => {}

/** A handler's context, for the time its command runs. */
export class CommandContext implements OnelineContext {
  readonly invalid: boolean
  readonly raw: Uint8Array
  readonly signal: AbortSignal
  readonly connection: OnelineConnection
  readonly #conn: FramedConnection
  readonly #writeOptions: CallOptions | undefined
  #sent: Promise<void>[] | undefined
  #settled = false

  /** `writeOptions` bound how long each line may wait for the client to take it. */
  constructor(
    raw: Uint8Array,
    invalid: boolean,
    signal: AbortSignal,
    connection: OnelineConnection,
    conn: FramedConnection,
    writeOptions: CallOptions | undefined,
  ) {
    this.raw = raw
    this.invalid = invalid
    this.signal = signal
    this.connection = connection
    this.#conn = conn
    this.#writeOptions = writeOptions
  }

  get remote(): PeerInfo {
    return this.connection.remote
  }

  send(line: string): void {
    if (this.#settled) throw new OnelineUnpromptedError()
    const written = this.#conn.write(encodeLine(line), this.#writeOptions)
    // Handled at once, so that a failure waits for flushed() without counting as unhandled.
    written.catch(ignore)
    ;(this.#sent ??= []).push(written)
  }

  /** The handler has settled: `send` refuses from now on. */
  settle(): void {
    this.#settled = true
  }

  /**
   * Resolves once every line sent is written; `undefined` when the handler sent none, so that
   * most commands wait for nothing here. It rejects as soon as one write fails, rather than after
   * the others: a client that does not read would leave them waiting for ever.
   */
  flushed(): Promise<void> | undefined {
    if (this.#sent === undefined) return undefined
    return Promise.all(this.#sent).then(ignore)
  }
}
