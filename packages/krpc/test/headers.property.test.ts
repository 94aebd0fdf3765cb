import { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { firstHeader } from '../src/headers.ts'

const numRuns = Number(process.env.FC_NUM_RUNS ?? 200)

const name = fc.constantFrom('content-type', 'Content-Type', 'CONTENT-TYPE', 'content-length', 'Content-Length',
  'Content-Typo', 'content-type-x', 'Host', 'X-Any')
const value = fc.string({ unit: fc.constantFrom('a', '/', '1', ';', ' ', '=') })

describe('firstHeader', () => {
  it("gives what node:http's headers object gives for content-type and content-length, repeats and case included", () => {
    fc.assert(fc.property(fc.array(fc.tuple(name, value), { maxLength: 8 }), (pairs) => {
      // node:http fills a message's headers object with this method, one raw pair at a time.
      const message = new IncomingMessage(new Socket()) as IncomingMessage & {
        _addHeaderLine(field: string, value: string, dest: Record<string, unknown>): void
      }
      const headers: Record<string, unknown> = {}
      for (const [field, text] of pairs) message._addHeaderLine(field, text, headers)
      for (const wanted of ['content-type', 'content-length']) {
        expect(firstHeader(pairs.flat(), wanted)).toBe(headers[wanted])
      }
    }), { numRuns })
  })
})
