import { Buffer } from 'node:buffer'
import zlib from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { GzipMemberDecoder } from '../src/gzip.ts'
import { decodeFrames } from '../src/iterate.ts'
import { LineDecoder } from '../src/line.ts'
import { asyncChunks, rejection, settled } from './helpers.ts'

async function collect<T>(frames: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const frame of frames) out.push(frame)
  return out
}

describe('decodeFrames', () => {
  it('decodes a source with a sync decoder and calls end() when it ends', async () => {
    const frames = decodeFrames(asyncChunks([Buffer.from('a\nb'), Buffer.from('c\nlast')]), new LineDecoder({ trailing: 'emit' }))
    expect((await collect(frames)).map(String)).toEqual(['a', 'bc', 'last'])
  })

  it('fails with the decoder fault after the frames before it', async () => {
    const frames = decodeFrames(asyncChunks([Buffer.from('a\nbcdef\n')]), new LineDecoder({ maxLineBytes: 3 }))
    expect(String((await frames.next()).value)).toBe('a')
    expect(await rejection(frames.next())).toMatchObject({ code: 'ERR_PROTO_FRAME_TOO_LARGE' })
    const truncated = decodeFrames(asyncChunks([Buffer.from('a\nb')]), new LineDecoder())
    expect(await rejection(collect(truncated))).toMatchObject({ code: 'ERR_PROTO_TRUNCATED_FRAME' })
  })

  it('decodes with an async decoder', async () => {
    const wire = Buffer.concat([zlib.gzipSync('one'), zlib.gzipSync('two')])
    const frames = decodeFrames(asyncChunks([wire.subarray(0, 7), wire.subarray(7)]), new GzipMemberDecoder())
    expect((await collect(frames)).map(String)).toEqual(['one', 'two'])
  })

  it('reads no chunk while the consumer holds a frame', async () => {
    let pulls = 0
    async function* source(): AsyncGenerator<Buffer> {
      for (const chunk of ['a\nb\n', 'c\n']) {
        pulls += 1
        yield await Promise.resolve(Buffer.from(chunk))
      }
    }
    const frames = decodeFrames(source(), new LineDecoder())
    await frames.next()
    await new Promise((resolve) => setImmediate(resolve))
    expect(pulls).toBe(1)
    await frames.next()
    expect(pulls).toBe(1)
    await frames.next()
    expect(pulls).toBe(2)
  })

  it('rejects with signal.reason on abort, even while the source hangs, and releases it', async () => {
    let returned = false
    const hanging: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<Uint8Array>>(() => undefined),
        return: () => {
          returned = true
          return Promise.resolve({ done: true as const, value: undefined })
        },
      }),
    }
    const controller = new AbortController()
    const next = decodeFrames(hanging, new LineDecoder(), { signal: controller.signal }).next()
    expect(await settled(next)).toBe(false)
    const reason = new Error('enough')
    controller.abort(reason)
    expect(await rejection(next)).toBe(reason)
    expect(returned).toBe(true)
    const aborted = decodeFrames(asyncChunks([]), new LineDecoder(), { signal: controller.signal })
    expect(await rejection(aborted.next())).toBe(reason)
  })

  it('releases the source when the consumer leaves early', async () => {
    let finished = false
    async function* source(): AsyncGenerator<Buffer> {
      try {
        yield await Promise.resolve(Buffer.from('a\nb\n'))
        yield Buffer.from('c\n')
      } finally {
        finished = true
      }
    }
    for await (const frame of decodeFrames(source(), new LineDecoder())) {
      expect(String(frame)).toBe('a')
      break
    }
    expect(finished).toBe(true)
  })
})
