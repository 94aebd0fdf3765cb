import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CaptureLine } from '../../src/cli/capture-lines.ts'
import { CaptureLines } from '../../src/cli/capture-lines.ts'
import type { CaptureDecoder, CaptureRecord } from '../../src/cli/decode.ts'
import { decodeCapture, decodeVerb } from '../../src/cli/decode.ts'
import { defineCli } from '../../src/cli/definition.ts'
import { CliOutput } from '../../src/cli/output.ts'
import { FileDigest, payloadJson } from '../../src/cli/payload.ts'
import { runCli } from '../../src/cli/run.ts'
import { arbitraries } from '../../src/testing/arbitraries.ts'
import { OutputSink } from '../../src/testing/output-sink.ts'
import { numRuns, settled } from '../helpers.ts'
import { run } from './helpers.ts'

const arb = arbitraries(fc)

/** Lines as oneline would decode them: each a payload, faults where CaptureLines finds them. */
function lineDecoder(maxLineBytes = 16): CaptureDecoder {
  const lines = new CaptureLines({ maxLineBytes })
  const records = (found: CaptureLine[]): CaptureRecord<unknown>[] =>
    found.map((r) => ('line' in r ? { offset: r.offset, frame: payloadJson(r.line) } : { offset: r.offset, error: r.error }))
  return { push: (chunk) => records(lines.push(chunk)), end: () => records(lines.end()) }
}

const toy = defineCli({
  name: 'toy',
  summary: 'toy',
  version: '1',
  verbs: [
    decodeVerb({
      direction: true,
      options: { 'max-line-bytes': { type: 'integer', min: 0, max: 1024, default: 16, description: 'longest line' } },
      decoder: (values, direction) => {
        const decoder = lineDecoder(values['max-line-bytes'])
        if (direction === undefined) return decoder
        // The direction shows in each frame, so the test sees it arrive.
        return {
          push: (chunk, offset) => (decoder.push(chunk, offset) as CaptureRecord<unknown>[]).map((r) => ('frame' in r ? { ...r, frame: { direction, ...(r.frame as object) } } : r)),
          end: (offset) => decoder.end(offset),
        }
      },
    }),
  ],
})

let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'framing-decode-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const jsonLines = (text: string): unknown[] => text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as unknown)

describe('the decode verb', () => {
  it('prints one JSON line per frame with its offset, payloads as text or base64, and exits 0', async () => {
    const file = join(dir, 'good.bin')
    await writeFile(file, Buffer.from('ping\n\nab\xffcd\n', 'latin1'))
    const result = await run(toy, ['decode', file])
    expect(result.code).toBe(0)
    expect(result.err).toBe('')
    expect(result.out).toBe(
      '{"offset":0,"frame":{"text":"ping"}}\n{"offset":5,"frame":{"text":""}}\n{"offset":6,"frame":{"data":"YWL/Y2Q=","encoding":"base64"}}\n',
    )
  })

  it('reads stdin for - or no file', async () => {
    for (const argv of [['decode'], ['decode', '-']]) {
      const stdin = Readable.from([Buffer.from('a\nb'), Buffer.from('c\n')])
      const result = await run(toy, argv, { stdin })
      expect(result).toEqual({ code: 0, out: '{"offset":0,"frame":{"text":"a"}}\n{"offset":2,"frame":{"text":"bc"}}\n', err: '' })
    }
  })

  it('prints an error line where the bytes stop making sense, goes on where the decoder resyncs, and exits 1', async () => {
    const stdin = Readable.from([Buffer.from(`ok\n${'x'.repeat(40)}\nafter\ncut`)])
    const result = await run(toy, ['decode', '--max-line-bytes', '16'], { stdin })
    expect(result.code).toBe(1)
    expect(jsonLines(result.out)).toEqual([
      { offset: 0, frame: { text: 'ok' } },
      { offset: 3, error: { code: 'ERR_PROTO_FRAME_TOO_LARGE', message: 'frame of 40 bytes is over the limit of 16' } },
      { offset: 44, frame: { text: 'after' } },
      { offset: 50, error: { code: 'ERR_PROTO_TRUNCATED_FRAME', message: 'input ended inside a frame after 3 bytes' } },
    ])
  })

  it('passes --direction to the decoder and refuses another word', async () => {
    const result = await run(toy, ['decode', '--direction', 'response'], { stdin: Readable.from([Buffer.from('a\n')]) })
    expect(result.out).toBe('{"offset":0,"frame":{"direction":"response","text":"a"}}\n')
    const wrong = await run(toy, ['decode', '--direction', 'reply'])
    expect(wrong.code).toBe(2)
    expect(wrong.err.split('\n')[0]).toBe('toy: --direction reply is not one of request, response (ERR_PROTO_CLI_USAGE)')
  })

  it('exits 2 with ERR_PROTO_CLI_READ naming a file it cannot read', async () => {
    const missing = join(dir, 'missing.bin')
    const result = await run(toy, ['decode', missing, '--max-line-bytes', '4'])
    expect(result.code).toBe(2)
    expect(result.out).toBe('')
    expect(result.err).toBe(`toy: cannot read ${missing} (ERR_PROTO_CLI_READ)\n  cause: ENOENT: no such file or directory, open '${missing}' (ENOENT)\n`)
    const directory = await run(toy, ['decode', dir])
    expect(directory.code).toBe(2)
    expect(directory.err).toMatch(/\(ERR_PROTO_CLI_READ\)\n {2}cause: .*\(EISDIR\)\n$/)
  })

  it('exits 2 when stdin fails midway, after printing what came before', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield await Promise.resolve(Buffer.from('a\n'))
      throw Object.assign(new Error('read EIO'), { code: 'EIO' })
    }
    const result = await run(toy, ['decode'], { stdin: Readable.from(failing()) })
    expect(result.code).toBe(2)
    expect(result.out).toBe('{"offset":0,"frame":{"text":"a"}}\n')
    expect(result.err).toBe('toy: cannot read the capture (ERR_PROTO_CLI_READ)\n  cause: read EIO (EIO)\n')
  })

  it('lists its options and exit codes in --help', async () => {
    const result = await run(toy, ['decode', '--help'])
    expect(result.out).toContain('Usage: toy decode [FILE|-] [options]')
    expect(result.out).toContain('--direction request|response')
    expect(result.out).toContain('--max-line-bytes N')
    expect(result.out).toContain('\nExit codes: 0 every byte decoded, 1 an error line was printed, 2 a usage or read error.\n')
    // The details are wrapped to fit a terminal.
    for (const line of result.out.split('\n\nArguments:')[0]?.split('\n') ?? []) expect(line.length).toBeLessThanOrEqual(96)
  })
})

describe('decodeCapture', () => {
  it('stops at a fault marked stop, reading no further', async () => {
    let pulled = 0
    async function* source(): AsyncGenerator<Buffer> {
      for (;;) {
        pulled += 1
        yield await Promise.resolve(Buffer.from('zz'))
      }
    }
    const decoder: CaptureDecoder<string> = {
      push: (chunk, offset) => (offset === 0 ? [{ offset, frame: chunk.toString() }] : [{ offset, error: new Error('lost'), stop: true }]),
      end: () => [],
    }
    const stdout = new OutputSink()
    const summary = await decodeCapture(source(), decoder, new CliOutput(stdout, new OutputSink()))
    expect(summary).toEqual({ bytes: 4, frames: 1, faults: 1, stopped: true })
    expect(pulled).toBe(2)
    expect(stdout.text).toBe('{"offset":0,"frame":"zz"}\n{"offset":2,"error":{"code":"Error","message":"lost"}}\n')
  })

  it('awaits an async decoder, and takes string chunks as UTF-8', async () => {
    const decoder: CaptureDecoder = {
      push: async (chunk, offset) => [{ offset, frame: payloadJson(await Promise.resolve(chunk)) }],
      end: async (offset) => [{ offset, frame: await Promise.resolve('end') }],
    }
    const stdout = new OutputSink()
    await decodeCapture(Readable.from(['é'], { objectMode: true }), decoder, new CliOutput(stdout, new OutputSink()))
    expect(stdout.text).toBe('{"offset":0,"frame":{"text":"é"}}\n{"offset":2,"frame":"end"}\n')
  })

  it('reads no more while stdout is full: memory follows the output buffer, not the input', async () => {
    let pulled = 0
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 1000; i++) {
        pulled += 1
        yield await Promise.resolve(Buffer.from('line\n'.repeat(10)))
      }
    }
    let release = (): void => {}
    const stdout = new Writable({
      highWaterMark: 64,
      write(_chunk, _encoding, callback) {
        release = callback
      },
    })
    const done = decodeCapture(source(), lineDecoder(), new CliOutput(stdout, new OutputSink()))
    expect(await settled(done)).toBe(false)
    const stalledAt = pulled
    expect(stalledAt).toBe(1)
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(pulled).toBe(stalledAt)
    stdout._write = (_chunk, _encoding, callback) => callback()
    release()
    expect(await done).toEqual({ bytes: 50_000, frames: 10_000, faults: 0, stopped: false })
  })
})

describe('CaptureLines', () => {
  const collect = (lines: CaptureLines, chunks: readonly Uint8Array[]): string[] =>
    [...chunks.flatMap((chunk) => lines.push(chunk)), ...lines.end()].map((r) =>
      'line' in r ? `${r.offset}:${r.line.toString('hex')}` : `${r.offset}!${r.error.code}`,
    )

  it('gives each line its offset, and holds at most maxLineBytes of a line however long', () => {
    const lines = new CaptureLines({ maxLineBytes: 4 })
    expect(collect(lines, [Buffer.from('ab\nabcd\nabcde'), Buffer.from('fgh'), Buffer.from('ij\nxy\n')])).toEqual([
      '0:6162',
      '3:61626364',
      '8!ERR_PROTO_FRAME_TOO_LARGE',
      '19:7879',
    ])
  })

  it('reports an unterminated last line at end()', () => {
    expect(collect(new CaptureLines(), [Buffer.from('a\nbc')])).toEqual(['0:61', '2!ERR_PROTO_TRUNCATED_FRAME'])
  })

  it('keeps no view of a chunk it was given across pushes', () => {
    const lines = new CaptureLines()
    const reused = Buffer.from('ab')
    lines.push(reused)
    reused.write('zz')
    expect(collect(lines, [Buffer.from('\n')])).toEqual(['0:6162'])
  })

  it('gives the same records for any chunking', () => {
    const input = fc
      .array(fc.oneof({ weight: 3, arbitrary: arb.line(12) }, fc.constant(Buffer.alloc(0))), { maxLength: 12 })
      .map((parts) => Buffer.concat(parts.flatMap((p) => [p, Buffer.from('\n')])))
      .chain((whole) => fc.tuple(fc.constant(whole), fc.boolean(), fc.integer({ min: 0, max: 8 })))
      .map(([whole, cut, max]) => ({ bytes: cut ? whole.subarray(0, Math.max(0, whole.length - 2)) : whole, max }))
    fc.assert(
      fc.property(
        input.chain(({ bytes, max }) => fc.tuple(fc.constant(bytes), fc.constant(max), arb.chunked(bytes))),
        ([bytes, max, chunks]) => {
          const whole = collect(new CaptureLines({ maxLineBytes: max }), [bytes])
          expect(collect(new CaptureLines({ maxLineBytes: max }), chunks)).toEqual(whole)
          expect(collect(new CaptureLines({ maxLineBytes: max }), [...bytes].map((b) => Buffer.from([b])))).toEqual(whole)
        },
      ),
      { numRuns },
    )
  })

  it('refuses a limit that is not a safe integer', () => {
    expect(() => new CaptureLines({ maxLineBytes: -1 })).toThrow(expect.objectContaining({ code: 'ERR_PROTO_USAGE' }))
  })
})

describe('payloadJson and FileDigest', () => {
  it.each([
    [Buffer.from('hello'), { text: 'hello' }],
    [Buffer.alloc(0), { text: '' }],
    [Buffer.from('\ufeffbom é'), { text: '\ufeffbom é' }],
    [Buffer.from([0x61, 0xff]), { data: 'Yf8=', encoding: 'base64' }],
    [Buffer.from([0xed, 0xa0, 0x80]), { data: '7aCA', encoding: 'base64' }],
  ])('%j is %j', (bytes, json) => {
    expect(payloadJson(new Uint8Array(bytes))).toEqual(json)
  })

  it('sums up streamed contents as name, size and SHA-256', () => {
    const digest = new FileDigest('a.txt')
    digest.update(Buffer.from('hello '))
    digest.update(new Uint8Array(Buffer.from('world')))
    expect(digest.size).toBe(11)
    expect(digest.summary()).toEqual({ name: 'a.txt', size: 11, sha256: createHash('sha256').update('hello world').digest('hex') })
  })
})

describe('decodeVerb in a bin', () => {
  it('runs under runCli with a stdin it was given', async () => {
    const stdout = new OutputSink()
    const code = await runCli(toy, ['decode'], { stdout, stderr: new OutputSink(), stdin: Readable.from([Buffer.from('x\n')]) })
    expect(code).toBe(0)
    expect(stdout.text).toBe('{"offset":0,"frame":{"text":"x"}}\n')
  })
})
