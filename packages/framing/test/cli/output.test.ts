import { Writable } from 'node:stream'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CliOutput, jsonLine } from '../../src/cli/output.ts'
import { OutputSink } from '../../src/testing/output-sink.ts'
import { numRuns, settled } from '../helpers.ts'

/** A stdout that completes no write until `release()`; past its 8-byte buffer, writers must wait. */
class Stuck extends Writable {
  readonly chunks: Buffer[] = []
  #pending: (() => void) | undefined
  #open = false

  constructor() {
    super({ highWaterMark: 8 })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk)
    if (this.#open) callback()
    else this.#pending = callback
  }

  release(): void {
    this.#open = true
    this.#pending?.()
  }
}

describe('CliOutput', () => {
  it('escapes every line printed on stdout and stderr, once', async () => {
    const stdout = new OutputSink()
    const stderr = new OutputSink()
    const out = new CliOutput(stdout, stderr)
    await out.print('title \u001b]0;pwned\u0007 clear \u001b[2J\u009b line\nforged \\x41')
    out.warn('note \u2028 \r')
    expect(stdout.text).toBe('title \\x1b]0;pwned\\x07 clear \\x1b[2J\\u009b line\\nforged \\\\x41\n')
    expect(stderr.text).toBe('note \\u2028 \\r\n')
  })

  it('writes bytes given to write() as they are', async () => {
    const stdout = new OutputSink()
    const out = new CliOutput(stdout, new OutputSink())
    await out.write(new Uint8Array([0x1b, 0x00, 0xff]))
    expect(stdout.bytes).toEqual(Buffer.from([0x1b, 0x00, 0xff]))
  })

  it('resolves a print only once stdout has room, so the caller holds back', async () => {
    const stdout = new Stuck()
    const out = new CliOutput(stdout, new OutputSink())
    const first = out.print('a line longer than the buffer')
    expect(await settled(first)).toBe(false)
    // A second print waits on the same drain rather than adding a listener of its own.
    const second = out.print('another')
    expect(stdout.listenerCount('drain')).toBe(1)
    expect(await settled(second)).toBe(false)
    stdout.release()
    await Promise.all([first, second])
    expect(Buffer.concat(stdout.chunks).toString()).toBe('a line longer than the buffer\nanother\n')
  })

  it('turns a stdout failure into CliOutputError, never a crash', async () => {
    const stdout = new Stuck()
    const out = new CliOutput(stdout, new OutputSink())
    const waiting = out.print('waits for a drain that never comes')
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })
    stdout.destroy(epipe)
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_PROTO_CLI_OUTPUT', cause: epipe })
    await expect(out.printJson({})).rejects.toMatchObject({ code: 'ERR_PROTO_CLI_OUTPUT' })
    expect(out.failure?.cause).toBe(epipe)
  })

  it('drops stderr lines once stderr has failed, without throwing', () => {
    const stderr = new OutputSink()
    const out = new CliOutput(new OutputSink(), stderr)
    stderr.destroy(new Error('gone'))
    expect(() => out.warn('nobody hears this')).not.toThrow()
  })
})

describe('jsonLine', () => {
  it('writes DEL, C1 controls, U+2028 and U+2029 as \\u escapes, which JSON.stringify leaves raw', () => {
    const value = { s: 'a\u2028b\u2029c\u009bd\u007fe\u0085\u001b' }
    expect(JSON.stringify(value)).toContain('\u2028')
    expect(jsonLine(value)).toBe('{"s":"a\\u2028b\\u2029c\\u009bd\\u007fe\\u0085\\u001b"}')
  })

  it('writes null for what JSON cannot hold', () => {
    expect(jsonLine(undefined)).toBe('null')
  })

  it('gives back the same value and never a control character, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const line = jsonLine({ a, b: [b] })
        expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/)
        expect(JSON.parse(line)).toEqual({ a, b: [b] })
      }),
      { numRuns },
    )
  })
})
