// The `decode` verb's incremental decoder: HTTP/1.1 requests or responses of a krpc connection, as JSON frames.
import { Buffer } from 'node:buffer'
import { FileDigest, payloadJson } from '@proto/framing/cli'
import type { CaptureDecoder, CaptureDirection, CaptureRecord } from '@proto/framing/cli'
import { DEFAULT_FIELD_NAME_SIZE, DEFAULT_FIELD_SIZE, DEFAULT_MAX_HEADER_SIZE, RpcCode } from './constants.ts'
import { KrpcBadRequestError } from './errors.ts'
import type { KrpcRequestError } from './errors.ts'
import { FormReader } from './form.ts'
import { resolveLimits } from './limits.ts'
import { PartSummaries } from './part-summary.ts'
import { multipartBoundary } from './part-type.ts'

/** Options of `captureDecoder`. */
export interface CaptureDecoderOptions {
  /** Which side sent the bytes. @default told by the first bytes of each message */
  direction?: CaptureDirection | undefined
  /** Largest call text (a form's `json` field, or a JSON response body) decoded; larger ones are summarised. @default 1048576 */
  fieldSize?: number
  /** Longest form field name. @default 100 */
  fieldNameSize?: number
}

type Json = Record<string, unknown>

const CRLF2 = Buffer.from('\r\n\r\n')

/** The body of one message as it streams: digested, and read as a form or kept as JSON when it may be the call. */
interface Body {
  digest: FileDigest
  form: FormReader | undefined
  formError: KrpcRequestError | undefined
  parts: PartSummaries | undefined
  json: Buffer[] | undefined
  jsonBytes: number
}

/**
 * Decodes a capture of one direction of a krpc connection: each HTTP/1.1 message becomes a frame
 * with its start line, the call (a GET's `json` query parameter, an urlencoded form's or a
 * multipart body's `json` field), or the result or error of a JSON response, and its body
 * summarised as size and SHA-256; a multipart body's parts are summarised one by one (name, file
 * name, type, size, SHA-256). File contents and binary results are never printed. Bodies are read by
 * `Content-Length` or chunked coding, a response without either to the end of the capture. A
 * message that does not parse is a fault that stops decoding: HTTP has no point to resync at.
 */
export function captureDecoder(options: CaptureDecoderOptions = {}): CaptureDecoder<Json> {
  const fieldSize = options.fieldSize ?? DEFAULT_FIELD_SIZE
  const limits = resolveLimits({ fieldSize, fieldNameSize: options.fieldNameSize ?? DEFAULT_FIELD_NAME_SIZE })
  let head: Buffer[] = []
  let headBytes = 0
  let state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailer' | 'eof' | 'stopped' = 'head'
  let remaining = 0
  let line: number[] = []
  let start = 0
  let frame: Json = {}
  let body: Body | undefined

  const fault = (offset: number, message: string): CaptureRecord<Json> => {
    state = 'stopped'
    return { offset, error: new KrpcBadRequestError(message, 400, RpcCode.INVALID_REQUEST), stop: true }
  }

  const sink = (b: Body) => ({
    get failed() { return b.formError !== undefined },
    fail(err: KrpcRequestError) { b.formError ??= err },
  })

  /** The start line and headers; the next state, or a fault's message. */
  const parseHead = (text: string): string | undefined => {
    const lines = text.split('\r\n')
    const first = lines.shift() ?? ''
    const headers = new Map<string, string>()
    for (const l of lines) {
      const colon = l.indexOf(':')
      if (colon <= 0) return `malformed header line: ${l}`
      const name = l.slice(0, colon).trim().toLowerCase()
      if (!headers.has(name)) headers.set(name, l.slice(colon + 1).trim())
    }
    const response = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(first)
    const request = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(first)
    if (response !== null && options.direction !== 'request') {
      frame = { type: 'response', status: Number(response[1]), reason: response[2] ?? '' }
    } else if (request !== null && options.direction !== 'response') {
      const [, method = '', target = ''] = request
      frame = { type: 'request', method, target }
      if (method === 'GET') {
        const call = new URL(target, 'http://x/').searchParams.get('json')
        if (call !== null) frame['call'] = callJson(call)
      }
    } else return `not an HTTP/1.1 ${options.direction ?? 'message'}: ${first.slice(0, 80)}`
    const type = headers.get('content-type')
    if (type !== undefined) frame['contentType'] = type
    const coding = headers.get('transfer-encoding')
    const length = headers.get('content-length')
    const form = frame['type'] === 'request' && /^application\/x-www-form-urlencoded/i.test(type ?? '')
    const json = frame['type'] === 'response' && /^application\/json/i.test(type ?? '')
    const boundary = frame['type'] === 'request' && /^multipart\/form-data/i.test(type ?? '') ? multipartBoundary(type ?? '') : undefined
    const b: Body = { digest: new FileDigest('body'), form: undefined, formError: undefined, parts: undefined, json: json ? [] : undefined, jsonBytes: 0 }
    if (form) b.form = new FormReader(limits, sink(b))
    if (boundary !== undefined) b.parts = new PartSummaries(boundary, fieldSize)
    body = b
    if (coding !== undefined) {
      if (coding.toLowerCase() !== 'chunked') return `unsupported Transfer-Encoding: ${coding}`
      state = 'chunk-size'
    } else if (length !== undefined) {
      if (!/^\d+$/.test(length)) return `bad Content-Length: ${length}`
      remaining = Number(length)
      state = 'length'
    } else state = frame['type'] === 'response' ? 'eof' : 'length'
    return undefined
  }

  const bodyBytes = (bytes: Uint8Array): void => {
    const b = body
    if (b === undefined) return
    b.digest.update(bytes)
    b.form?.push(bytes)
    b.parts?.push(bytes)
    if (b.json !== undefined) {
      b.jsonBytes += bytes.length
      if (b.jsonBytes > fieldSize) b.json = undefined
      else b.json.push(Buffer.from(bytes))
    }
  }

  const finish = (): CaptureRecord<Json> => {
    const b = body
    const record = { offset: start, frame }
    if (b !== undefined) {
      const { size, sha256 } = b.digest.summary()
      if (size > 0) frame['body'] = { size, sha256 }
      const text = b.form?.end()
      if (text !== undefined && b.formError === undefined) frame['call'] = callJson(text)
      const parts = b.parts
      if (parts !== undefined) {
        if (parts.call !== undefined) frame['call'] = callJson(parts.call)
        frame['parts'] = parts.parts
        if (parts.problem !== undefined) frame['partsError'] = parts.problem
      }
      if (b.json !== undefined && size > 0) {
        try {
          Object.assign(frame, JSON.parse(Buffer.concat(b.json).toString('utf8')) as Json)
        } catch {
          frame['payload'] = payloadJson(Buffer.concat(b.json))
        }
      }
    }
    body = undefined
    state = 'head'
    head = []
    headBytes = 0
    return record
  }

  const push = (chunk: Uint8Array, offset: number): CaptureRecord<Json>[] => {
    const records: CaptureRecord<Json>[] = []
    let i = 0
    while (i < chunk.length && state !== 'stopped') {
      if (state === 'head') {
        if (headBytes === 0) start = offset + i
        // No more than a head may hold, with the blank line that ends it: copying the whole rest
        // of a chunk would copy each later message again for every head before it.
        const take = Math.min(chunk.length - i, DEFAULT_MAX_HEADER_SIZE + 4 - headBytes)
        head.push(Buffer.from(chunk.subarray(i, i + take)))
        const all = Buffer.concat(head)
        const end = all.indexOf(CRLF2, Math.max(0, headBytes - 3))
        if (end === -1) {
          headBytes = all.length
          head = [all]
          if (headBytes > DEFAULT_MAX_HEADER_SIZE) records.push(fault(start, `a head longer than ${DEFAULT_MAX_HEADER_SIZE} bytes`))
          break
        }
        i += end + 4 - headBytes
        const problem = parseHead(all.subarray(0, end).toString('latin1'))
        if (problem !== undefined) {
          records.push(fault(start, problem))
          break
        }
        if ((state as string) === 'length' && remaining === 0) records.push(finish())
        continue
      }
      if (state === 'length' || state === 'chunk-data') {
        const n = Math.min(remaining, chunk.length - i)
        bodyBytes(chunk.subarray(i, i + n))
        remaining -= n
        i += n
        if (remaining === 0) {
          if (state === 'length') records.push(finish())
          else state = 'chunk-crlf'
        }
        continue
      }
      if (state === 'eof') {
        bodyBytes(chunk.subarray(i))
        break
      }
      // chunk-size, chunk-crlf and trailer read lines.
      const byte = chunk[i++] ?? 0
      if (byte !== 0x0a) {
        if (line.length > 1024) {
          records.push(fault(start, 'a chunk line longer than 1024 bytes'))
          break
        }
        line.push(byte)
        continue
      }
      const text = Buffer.from(line).toString('latin1').replace(/\r$/, '')
      line = []
      if (state === 'chunk-crlf') {
        if (text !== '') records.push(fault(start, 'chunk data not followed by CRLF'))
        else state = 'chunk-size'
      } else if (state === 'chunk-size') {
        const size = /^([0-9a-fA-F]+)(?:;.*)?$/.exec(text)?.[1]
        if (size === undefined) records.push(fault(start, `bad chunk size: ${text.slice(0, 40)}`))
        else if ((remaining = Number.parseInt(size, 16)) === 0) state = 'trailer'
        else state = 'chunk-data'
      } else if (text === '') records.push(finish())
    }
    return records
  }

  return {
    push,
    end: (offset) => {
      if (state === 'eof') return [finish()]
      if (state === 'stopped' || (state === 'head' && headBytes === 0)) return []
      return [fault(start, `the capture ends inside a message (at ${offset})`)]
    },
  }
}

/** A call's text as decode prints it: the JSON it holds, else the text. */
function callJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return payloadJson(Buffer.from(text))
  }
}
