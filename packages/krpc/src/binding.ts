// Parameter binding: a call's params as the method's arguments, file references matched to the parts that answer them.
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { FileInfo } from 'busboy'
import { FILE_PREFIX } from './constants.ts'
import { FileArg } from './file-arg.ts'
import { Spool } from './spool.ts'

/** A referenced file part: filled in when the part arrives. */
class Slot {
  readonly name: string
  arg: FileArg | undefined
  spool: Spool | undefined

  constructor(name: string) {
    this.name = name
  }
}

/** The body ended with a reference that no file part answered. */
export class MissingFile {
  readonly name: string

  constructor(name: string) {
    this.name = name
  }
}

/** The method's arguments with their file references still as slots. */
export type Template = { readonly kind: 'list'; readonly items: unknown[] } | { readonly kind: 'named'; readonly entries: [string, unknown][] }

const NO_ARGS: Template = { kind: 'list', items: [] }

function noop(): void {}

/** What the binding of a call's files needs from its exchange. */
export interface BindingHost {
  readonly tmpDir: string
  readonly fileSize: number
  /** A live part broke (`err`) or ran past `fileSize` (`undefined`). */
  partProblem(name: string, err: Error | undefined): void
  /** A spooled part ran past `fileSize`. */
  spoolOverflow(name: string): void
}

/**
 * The files of one call. Top-level `__file__:` strings become slots; each part that answers one
 * is handed over live when it is the last one missing, else spooled to a temp file, and `ready`
 * settles once every slot is filled (or rejects with `MissingFile` when the body ends first).
 * Nothing is made for calls without file references, which are nearly all of them.
 */
export class Binding {
  readonly #host: BindingHost
  /** Every referenced part, in the order the params name them. */
  #slots: Map<string, Slot> | undefined
  /** Referenced parts that have not arrived; emptied when the call settles. */
  #wanted: Set<string> | undefined
  #settled = false
  #args: FileArg[] | undefined
  #spools: Spool[] | undefined
  #ready: Promise<void> | undefined
  #readyResolve: () => void = noop
  #readyReject: (reason: unknown) => void = noop
  #cleaning: Promise<void> | undefined

  constructor(host: BindingHost) {
    this.#host = host
  }

  /** Settles when every referenced part has arrived; `undefined` when the call references none. */
  get ready(): Promise<void> | undefined {
    return this.#ready
  }

  /** `params` as arguments, with a slot for each top-level file reference when files are allowed. */
  bind(params: unknown, allowFiles: boolean, bodyEnded: boolean): Template {
    let template: Template
    if (Array.isArray(params)) template = { kind: 'list', items: params.map((value) => this.#ref(value, allowFiles)) }
    else if (typeof params === 'object' && params !== null) {
      const entries = Object.entries(params)
      template = entries.length === 0
        ? NO_ARGS
        : { kind: 'named', entries: entries.map(([key, value]) => [key, this.#ref(value, allowFiles)]) }
    } else if (!params) {
      // The original calls with no arguments for every falsy params, and wraps any other scalar.
      template = NO_ARGS
    } else template = { kind: 'list', items: [this.#ref(params, allowFiles)] }
    if (this.#wanted !== undefined) {
      this.#ready = new Promise<void>((resolve, reject) => {
        this.#readyResolve = resolve
        this.#readyReject = reject
      })
      // Awaited only once the method is known; until then a rejection must not count as unhandled.
      this.#ready.catch(noop)
      if (bodyEnded) this.#readyReject(this.#firstMissing())
    }
    return template
  }

  #ref(value: unknown, allowFiles: boolean): unknown {
    if (!allowFiles || typeof value !== 'string' || !value.startsWith(FILE_PREFIX)) return value
    const slots = (this.#slots ??= new Map<string, Slot>())
    let slot = slots.get(value)
    if (slot === undefined) {
      slot = new Slot(value)
      slots.set(value, slot)
      ;(this.#wanted ??= new Set()).add(value)
    }
    return slot
  }

  /** The arguments, each slot replaced by its file. */
  materialize(template: Template): unknown[] {
    const arg = (value: unknown): unknown => (value instanceof Slot ? value.arg : value)
    if (template.kind === 'list') return template.items.map(arg)
    return [Object.fromEntries(template.entries.map(([key, value]) => [key, arg(value)]))]
  }

  /** A file part of the body: handed over, spooled, or drained when no slot wants it. */
  offer(name: string, stream: Readable, info: FileInfo): void {
    const slot = this.#slots?.get(name)
    if (slot === undefined || this.#wanted?.delete(name) !== true) {
      stream.resume()
      return
    }
    const host = this.#host
    const filename = info.filename ?? ''
    if (this.#wanted.size === 0) {
      const arg = new FileArg(name, filename, info.mimeType, host.fileSize, (err) => host.partProblem(name, err))
      arg.attachLive(stream)
      slot.arg = arg
      ;(this.#args ??= []).push(arg)
      void this.#allArrived()
    } else {
      const spool = new Spool(join(host.tmpDir, `krpc-${randomUUID()}`),
        { field: name, filename, mimeType: info.mimeType }, stream, host.fileSize, () => host.spoolOverflow(name))
      slot.spool = spool
      ;(this.#spools ??= []).push(spool)
    }
  }

  async #allArrived(): Promise<void> {
    try {
      await Promise.all((this.#spools ?? []).map((spool) => spool.done))
    } catch (err) {
      this.#readyReject(err)
      return
    }
    if (this.#settled) return
    for (const slot of this.#slots?.values() ?? []) {
      const spool = slot.spool
      if (spool === undefined || slot.arg !== undefined) continue
      const arg = new FileArg(spool.field, spool.filename, spool.mimeType, this.#host.fileSize, noop)
      arg.attachSpooled(spool.path)
      slot.arg = arg
      ;(this.#args ??= []).push(arg)
    }
    this.#readyResolve()
  }

  /** The body ended: a reference still unanswered is a missing file. */
  bodyEnded(): void {
    if (this.#settled || this.#wanted === undefined || this.#wanted.size === 0) return
    this.#readyReject(this.#firstMissing())
  }

  #firstMissing(): MissingFile {
    for (const name of this.#wanted ?? []) return new MissingFile(name)
    return new MissingFile('')
  }

  /** The call has its outcome: stop waiting for parts. */
  settle(): void {
    this.#settled = true
    this.#wanted?.clear()
  }

  /** The request failed: every file errors with `err`, and a wait for parts rejects with it. */
  fail(err: Error): void {
    for (const arg of this.#args ?? []) arg.destroy(err)
    this.#readyReject(err)
  }

  /** Removes what the call's files left; `undefined` when there is nothing to wait for. */
  cleanup(): Promise<void> | undefined {
    if (this.#cleaning !== undefined) return this.#cleaning
    // A live part the method left unread is drained by its destroy; spools are removed.
    for (const arg of this.#args ?? []) if (!arg.destroyed) arg.destroy()
    if (this.#spools === undefined) return undefined
    this.#cleaning = Promise.all(this.#spools.map((spool) => spool.discard())).then(noop)
    return this.#cleaning
  }
}
