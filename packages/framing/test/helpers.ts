import { Buffer } from 'node:buffer'
import process from 'node:process'
import { expect } from 'vitest'
import { isProtoError } from '../src/errors.ts'
import type { AsyncFrameDecoder, FrameDecoder } from '../src/iterate.ts'

/** fast-check runs per property; `FC_NUM_RUNS` scales them. */
export const numRuns = Number(process.env['FC_NUM_RUNS'] ?? 200)

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

export interface Outcome<T> {
  frames: T[]
  code: string | undefined
  /** `buffered` after every call, to check it stays within the limit. */
  buffered: number[]
}

/** Everything a decoder makes of `chunks`, then `end()`: frames until the first fault, and its code. */
export function run<T>(decoder: FrameDecoder<T>, chunks: readonly Uint8Array[]): Outcome<T> {
  const out: Outcome<T> = { frames: [], code: undefined, buffered: [] }
  try {
    for (const chunk of chunks) {
      out.frames.push(...decoder.push(chunk))
      out.buffered.push(decoder.buffered)
    }
    out.frames.push(...decoder.end())
  } catch (err) {
    expect(isProtoError(err)).toBe(true)
    out.code = (err as { code: string }).code
  }
  return out
}

export async function runAsync<T>(decoder: AsyncFrameDecoder<T>, chunks: readonly Uint8Array[]): Promise<Outcome<T>> {
  const out: Outcome<T> = { frames: [], code: undefined, buffered: [] }
  try {
    for (const chunk of chunks) {
      out.frames.push(...(await decoder.push(chunk)))
      out.buffered.push(decoder.buffered)
    }
    out.frames.push(...(await decoder.end()))
  } catch (err) {
    expect(isProtoError(err)).toBe(true)
    out.code = (err as { code: string }).code
  }
  return out
}

/** Frames as hex strings, which read well in failures. */
export const hexes = (frames: readonly Uint8Array[]): string[] => frames.map((f) => Buffer.from(f).toString('hex'))

/** The rejection of `promise`, failing the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  return expect.unreachable('the promise resolved')
}

/** Whether `promise` has settled, after letting pending callbacks run. */
export async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false
  promise.then(
    () => (done = true),
    () => (done = true),
  )
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

/** `chunks` as an async source, one chunk per pull. */
export async function* asyncChunks(chunks: Iterable<Buffer>): AsyncGenerator<Buffer> {
  for (const chunk of chunks) yield await Promise.resolve(chunk)
}
