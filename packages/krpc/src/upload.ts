// The bodies the Node client sends: the form encoding of call text and the streamed multipart body.
import type { ClientRequest } from 'node:http'
import { KrpcFileSizeMismatchError } from './errors.ts'
import type { Outgoing } from './file-input.ts'

function escapeFilename(name: string): string {
  return name.replace(/["\r\n]/g, (c) => (c === '"' ? '%22' : c === '\r' ? '%0D' : '%0A'))
}

function partHead(boundary: string, file: Outgoing): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${escapeFilename(file.filename)}"`
    + `\r\nContent-Type: ${file.mimeType}\r\n\r\n`
}

/** Tells the body writer to stop: the reply came first, or the call failed. */
export class UploadStop {
  stopped = false
  #wake: (() => void) | undefined

  stop(): void {
    this.stopped = true
    this.#wake?.()
  }

  /** Resolves on `'drain'`, on close, or when stopped. */
  drain(req: ClientRequest): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        req.off('drain', done)
        req.off('close', done)
        this.#wake = undefined
        resolve()
      }
      req.once('drain', done)
      req.once('close', done)
      this.#wake = done
    })
  }
}

// Form encoding, as URLSearchParams writes it but without building one per call: call text is
// ASCII, so encodeURIComponent plus the few characters it leaves that forms escape.
const SPACE = /%20/g
const FORM_EXTRA = /[!'()~]/g

/** Call text as a form value. */
export function formEncode(text: string): string {
  const encoded = encodeURIComponent(text).replace(SPACE, '+')
  return encoded.includes('!') || encoded.includes("'") || encoded.includes('(') || encoded.includes(')') || encoded.includes('~')
    ? encoded.replace(FORM_EXTRA, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    : encoded
}

/** Streams the multipart body of section 1.3; returns early when `stop` aborts (an early reply). */
export async function writeMultipart(req: ClientRequest, boundary: string, text: string, files: readonly Outgoing[],
  stop: UploadStop): Promise<void> {
  req.write(`--${boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n${text}\r\n`)
  for (const file of files) {
    if (stop.stopped || req.destroyed) return
    req.write(partHead(boundary, file))
    const body = file.body
    if (body instanceof Uint8Array) {
      if (!req.write(body)) await stop.drain(req)
    } else {
      let sent = 0
      for await (const piece of body()) {
        if (stop.stopped || req.destroyed) return
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece
        sent += chunk.byteLength
        if (file.size !== undefined && sent > file.size) throw new KrpcFileSizeMismatchError(file.field, file.size, sent)
        if (!req.write(chunk)) await stop.drain(req)
      }
      if (stop.stopped || req.destroyed) return
      if (file.size !== undefined && sent !== file.size) throw new KrpcFileSizeMismatchError(file.field, file.size, sent)
    }
    req.write('\r\n')
  }
  req.end(`--${boundary}--\r\n`)
}

/** The length of the multipart body, when every file's size is known. */
export function contentLength(boundary: string, text: string, files: readonly Outgoing[]): number | undefined {
  let total = Buffer.byteLength(`--${boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n${text}\r\n--${boundary}--\r\n`)
  for (const file of files) {
    if (file.size === undefined) return undefined
    total += Buffer.byteLength(partHead(boundary, file)) + file.size + 2
  }
  return total
}

