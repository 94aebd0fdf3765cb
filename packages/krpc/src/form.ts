// An urlencoded body read as it streams: each field counted and checked, only the call's value kept, decoded as it comes.
import type { TextDecoder } from 'node:util'
import { KrpcBadRequestError, KrpcFieldTooLargeError, KrpcTooManyPartsError } from './errors.ts'
import type { KrpcRequestError } from './errors.ts'
import type { ResolvedLimits } from './types.ts'

const AMP = 0x26
const EQ = 0x3d
const PCT = 0x25
const PLUS = 0x2b
const SPACE = 0x20

/** The value of an ASCII hex digit, or -1. */
function hex(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  const lower = code | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x57
  return -1
}

/**
 * Bytes kept in one buffer that grows by doubling up to its cap: memory follows the bytes, however
 * they were chunked, and never passes the cap.
 */
class Bytes {
  readonly #cap: number
  #buf: Buffer | undefined
  #length = 0

  /** @param cap the most bytes it will be asked to hold */
  constructor(cap: number) {
    this.#cap = cap
  }

  get length(): number {
    return this.#length
  }

  #room(n: number): Buffer {
    const need = this.#length + n
    const buf = this.#buf
    if (buf !== undefined && buf.length >= need) return buf
    const grown = Buffer.allocUnsafe(Math.max(need, Math.min(this.#cap, Math.max(256, (buf?.length ?? 0) * 2))))
    buf?.copy(grown, 0, 0, this.#length)
    this.#buf = grown
    return grown
  }

  add(source: Uint8Array, start: number, end: number): void {
    const buf = this.#room(end - start)
    buf.set(source.subarray(start, end), this.#length)
    this.#length += end - start
  }

  addByte(byte: number): void {
    this.#room(1)[this.#length++] = byte
  }

  clear(): void {
    this.#length = 0
  }

  equals(text: string): boolean {
    if (this.#length !== text.length) return false
    for (let i = 0; i < text.length; i++) if (this.#buf?.[i] !== text.charCodeAt(i)) return false
    return true
  }

  view(): Buffer {
    return this.#buf === undefined ? Buffer.alloc(0) : this.#buf.subarray(0, this.#length)
  }
}

/** Where the reader reports a body it cannot take. */
export interface FormSink {
  readonly failed: boolean
  fail(err: KrpcRequestError): void
}

/**
 * An `application/x-www-form-urlencoded` body, read chunk by chunk as URLSearchParams would read
 * it whole: `&` between fields, `=` between name and value, `+` a space, `%XX` a byte, empty
 * fields skipped. Names and values are decoded as they arrive and checked against
 * `fieldNameSize` and `fieldSize` (decoded bytes), and the fields against `fields`. Only the
 * first `json` value is kept (or, until one comes, the first `JSON` value), each in a buffer that
 * never grows past `fieldSize`, so a form costs at most `fieldSize + fieldNameSize` bytes and a
 * few objects, whatever the size of its body or of the pieces it comes in.
 */
export class FormReader {
  readonly #limits: ResolvedLimits
  readonly #sink: FormSink
  readonly #decoder: TextDecoder | undefined
  #fields = 0
  /** Inside a field: its name until `=`, then its value. */
  #inField = false
  #inValue = false
  /** 0 outside an escape, 1 after `%`, 2 after its first digit. */
  #escape = 0
  #high = 0
  readonly #name: Bytes
  #valueLength = 0
  /** Where the current value goes, when it is one the call may be in. */
  #keep: Bytes | undefined
  #json: Bytes | undefined
  #upperJson: Bytes | undefined

  /** @param decoder the charset of a body not in UTF-8 */
  constructor(limits: ResolvedLimits, sink: FormSink, decoder?: TextDecoder) {
    this.#limits = limits
    this.#sink = sink
    this.#decoder = decoder
    this.#name = new Bytes(limits.fieldNameSize)
  }

  /** Reads the next piece of the body; a fault goes to the sink, and nothing more is read. */
  push(chunk: Uint8Array): void {
    const end = chunk.length
    let i = 0
    while (i < end) {
      if (this.#sink.failed) return
      if (this.#escape !== 0) {
        const digit = hex(chunk[i] ?? 0)
        if (digit === -1) {
          this.#malformed()
          return
        }
        i++
        if (this.#escape === 1) {
          this.#high = digit
          this.#escape = 2
        } else {
          this.#escape = 0
          this.#byte((this.#high << 4) | digit)
        }
        continue
      }
      let j = i
      while (j < end) {
        const code = chunk[j]
        if (code === AMP || code === EQ || code === PCT || code === PLUS) break
        j++
      }
      if (j > i) {
        this.#run(chunk, i, j)
        i = j
        continue
      }
      const code = chunk[i++]
      if (code === AMP) this.#endField()
      else if (code === PLUS) this.#byte(SPACE)
      else if (code === PCT) {
        this.#start()
        this.#escape = 1
      } else if (this.#inValue) this.#byte(EQ)
      else this.#startValue()
    }
  }

  /**
   * The body has ended: the call text, the first `json` field's else the first `JSON` field's,
   * or `undefined` when there is none (or the body failed).
   */
  end(): string | undefined {
    if (this.#escape !== 0) this.#malformed()
    else this.#endField()
    if (this.#sink.failed) return undefined
    const kept = this.#json ?? this.#upperJson
    if (kept === undefined) return undefined
    const bytes = kept.view()
    return this.#decoder === undefined ? bytes.toString('utf8') : this.#decoder.decode(bytes)
  }

  #malformed(): void {
    this.#sink.fail(new KrpcBadRequestError('Malformed request body.', 400))
  }

  /** The first byte of a field counts it. */
  #start(): void {
    if (this.#inField) return
    this.#inField = true
    if (++this.#fields > this.#limits.fields) this.#sink.fail(new KrpcTooManyPartsError('fields', this.#limits.fields))
  }

  #startValue(): void {
    this.#start()
    this.#inValue = true
    const name = this.#name
    if (this.#json === undefined && name.equals('json')) {
      // The first `json` wins over any `JSON`, which need not be kept any longer.
      this.#keep = this.#json = new Bytes(this.#limits.fieldSize)
      this.#upperJson = undefined
    } else if (this.#json === undefined && this.#upperJson === undefined && name.equals('JSON')) {
      this.#keep = this.#upperJson = new Bytes(this.#limits.fieldSize)
    }
  }

  #endField(): void {
    this.#inField = false
    this.#inValue = false
    this.#keep = undefined
    this.#valueLength = 0
    this.#name.clear()
  }

  #run(chunk: Uint8Array, start: number, end: number): void {
    this.#start()
    const n = end - start
    if (this.#inValue) {
      this.#valueLength += n
      if (this.#valueLength > this.#limits.fieldSize) {
        this.#sink.fail(new KrpcFieldTooLargeError('fieldSize', this.#limits.fieldSize))
        return
      }
      this.#keep?.add(chunk, start, end)
      return
    }
    if (this.#name.length + n > this.#limits.fieldNameSize) {
      this.#sink.fail(new KrpcFieldTooLargeError('fieldNameSize', this.#limits.fieldNameSize))
      return
    }
    this.#name.add(chunk, start, end)
  }

  #byte(byte: number): void {
    this.#start()
    if (this.#inValue) {
      if (++this.#valueLength > this.#limits.fieldSize) {
        this.#sink.fail(new KrpcFieldTooLargeError('fieldSize', this.#limits.fieldSize))
        return
      }
      this.#keep?.addByte(byte)
      return
    }
    if (this.#name.length + 1 > this.#limits.fieldNameSize) {
      this.#sink.fail(new KrpcFieldTooLargeError('fieldNameSize', this.#limits.fieldNameSize))
      return
    }
    this.#name.addByte(byte)
  }
}
