// The `decode` verb: one direction of a captured connection, streamed through a package's decoder, printed as JSON lines.
import { Buffer } from 'node:buffer'
import { createReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import type { OptionsDefinition, OptionValues, VerbContext, VerbDefinition } from './definition.ts'
import { CliReadError } from './errors.ts'
import type { CliOutput } from './output.ts'
import { errorCode, errorMessage } from './report.ts'

/** A decoded frame, or where the bytes stopped making sense. */
export type CaptureRecord<F> = CaptureFrame<F> | CaptureFault

/** A frame and the offset of its first byte in the capture. */
export interface CaptureFrame<F> {
  /** The offset of its first byte. */
  offset: number
  /** What the frame holds, as a JSON value (payloads through `payloadJson`, files as `FileDigest` summaries). */
  frame: F
}

/** Where the bytes stopped making sense. */
export interface CaptureFault {
  /** The offset of the first byte of the frame that failed. */
  offset: number
  /** Printed as `{ code, message }`. */
  error: unknown
  /** The decoder cannot find another frame after this: decoding stops. @default false */
  stop?: boolean
}

/**
 * What a package writes to decode its protocol: bytes in, records out, incrementally. Any chunking
 * of the same capture must give the same records. After a fault the decoder either goes on from
 * where its protocol lets it find the next frame (oneline and karp: the next LF) or marks the
 * fault `stop`. It must hold no more than its limits allow, however large the capture.
 */
export interface CaptureDecoder<F = unknown> {
  /** The records `chunk` completes, in order; `offset` is where `chunk` starts in the capture. */
  push(chunk: Uint8Array, offset: number): CaptureRecord<F>[] | Promise<CaptureRecord<F>[]>
  /** The capture ended after `offset` bytes: the records of what is left (a fault for a frame cut short). */
  end(offset: number): CaptureRecord<F>[] | Promise<CaptureRecord<F>[]>
}

/** What `decodeCapture` found. */
export interface DecodeSummary {
  /** Bytes read. */
  bytes: number
  /** Frames printed. */
  frames: number
  /** Fault lines printed. */
  faults: number
  /** A fault marked `stop` ended decoding before the end of the capture. */
  stopped: boolean
}

/**
 * Streams `source` through `decoder` and prints each record as one JSON line:
 * `{"offset":N,"frame":{...}}` or `{"offset":N,"error":{"code","message"}}`. It reads the next
 * chunk only once stdout has taken the records of the last one, so memory stays flat whatever
 * the size of the capture. A failure of `source` rejects with `CliReadError`.
 */
export async function decodeCapture<F>(source: AsyncIterable<Uint8Array | string>, decoder: CaptureDecoder<F>, out: CliOutput): Promise<DecodeSummary> {
  const summary: DecodeSummary = { bytes: 0, frames: 0, faults: 0, stopped: false }
  const iterator = source[Symbol.asyncIterator]()
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array | string>
      try {
        next = await iterator.next()
      } catch (err) {
        throw new CliReadError('cannot read the capture', { cause: err })
      }
      if (next.done === true) break
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
      const offset = summary.bytes
      summary.bytes += chunk.byteLength
      if (await print(await decoder.push(chunk, offset), out, summary)) return summary
    }
    await print(await decoder.end(summary.bytes), out, summary)
    return summary
  } finally {
    await iterator.return?.()
  }
}

/** Prints `records`; true when one of them stops decoding. */
async function print<F>(records: readonly CaptureRecord<F>[], out: CliOutput, summary: DecodeSummary): Promise<boolean> {
  for (const record of records) {
    if ('frame' in record) {
      summary.frames += 1
      await out.printJson({ offset: record.offset, frame: record.frame })
      continue
    }
    summary.faults += 1
    await out.printJson({ offset: record.offset, error: { code: errorCode(record.error), message: errorMessage(record.error) } })
    if (record.stop === true) {
      summary.stopped = true
      return true
    }
  }
  return false
}

/** Which side of the connection a capture holds. */
export type CaptureDirection = 'request' | 'response'

/** Options of `decodeVerb`. */
export interface DecodeVerbOptions<O extends OptionsDefinition> {
  /** What the capture holds, for `--help`. @default 'the raw bytes of one direction of a connection' */
  what?: string
  /** The package's own options of `decode`, such as its size limits. @default {} */
  options?: O
  /** Whether the verb takes `--direction request|response`; without it the decoder tells by the first bytes. @default false */
  direction?: boolean
  /** A decoder for one capture, given the option values and `--direction` when declared and given. */
  decoder(values: OptionValues<O>, direction: CaptureDirection | undefined): CaptureDecoder
}

const decodeDetails = (what: string): string =>
  [
    `Reads ${what} from FILE, or from stdin when FILE is - or absent, and prints one JSON line per frame,`,
    '{"offset":N,"frame":{...}}, or {"offset":N,"error":{"code","message"}} where the bytes stop making sense.',
    'Payloads print as {"text"} when they are UTF-8, else as {"data","encoding":"base64"}; files as',
    '{"name","size","sha256"}.\nExit codes: 0 every byte decoded, 1 an error line was printed, 2 a usage or read error.',
  ].join(' ')

/**
 * The `decode` verb of a bin: `<bin> decode [FILE|-] [--direction request|response]` plus the
 * package's options. It streams the file or stdin through `decodeCapture` and exits 0 when every
 * byte decoded, 1 when an error line was printed, 2 on a usage or read error.
 */
export function decodeVerb<const O extends OptionsDefinition = Record<never, never>>(spec: DecodeVerbOptions<O>): VerbDefinition {
  const direction = {
    direction: { type: 'enum', choices: ['request', 'response'], description: 'which side sent the bytes, when the first bytes do not tell' },
  } as const
  const options = { ...(spec.direction === true ? direction : {}), ...spec.options }
  return {
    name: 'decode',
    summary: 'decode captured bytes of one direction of a connection into JSON lines',
    details: decodeDetails(spec.what ?? 'the raw bytes of one direction of a connection'),
    positionals: [{ name: 'file', label: 'FILE|-', description: 'the capture; - or nothing for stdin' }],
    options,
    run: async (ctx: VerbContext) => {
      const file = ctx.args['file']
      const values = ctx.values as OptionValues<O> & { direction?: CaptureDirection | undefined }
      const decoder = spec.decoder(values, values.direction)
      const source: Readable = file === undefined || file === '-' ? ctx.stdin : createReadStream(file)
      try {
        const summary = await decodeCapture(source, decoder, ctx.out)
        return summary.faults > 0 ? 1 : 0
      } catch (err) {
        if (err instanceof CliReadError && file !== undefined && file !== '-') throw new CliReadError(`cannot read ${file}`, { cause: err.cause })
        throw err
      } finally {
        if (source !== ctx.stdin) source.destroy()
      }
    },
  }
}
