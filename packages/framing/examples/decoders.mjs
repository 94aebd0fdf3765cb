// Decoders and encoders: bytes in any chunking become the same frames. Lines, length-prefixed
// frames and gzip members are encoded, cut into awkward chunks, and decoded again; a line over its
// limit is an error with a code, after the good lines before it.
//
// Prints:
//   lines: [ 'hello', 'world' ]
//   length-prefixed: [ 'first', 'second frame' ]
//   gzip: [ '{"a":1}', '{"b":2}' ]
//   too long: ERR_PROTO_FRAME_TOO_LARGE after [ 'ok' ]
import { gzipSync } from 'node:zlib'
import { GzipMemberDecoder, LengthPrefixedDecoder, LineDecoder, encodeLengthPrefixed, encodeLine } from '@proto/framing'

// Splits bytes into chunks of 3, as a slow network might deliver them.
const chunks = (bytes) => Array.from({ length: Math.ceil(bytes.length / 3) }, (_, i) => bytes.subarray(i * 3, i * 3 + 3))
const text = (frames) => frames.map((frame) => frame.toString())

const lines = new LineDecoder({ maxLineBytes: 1024 })
const wire = Buffer.concat([encodeLine('hello'), encodeLine('world')])
console.log('lines:', text([...chunks(wire).flatMap((chunk) => lines.push(chunk)), ...lines.end()]))

const prefixed = new LengthPrefixedDecoder({ prefixBytes: 2, maxFrameBytes: 1024 })
const frames = Buffer.concat(['first', 'second frame'].map((payload) => encodeLengthPrefixed(Buffer.from(payload), { prefixBytes: 2 })))
console.log('length-prefixed:', text(chunks(frames).flatMap((chunk) => prefixed.push(chunk))))

// Gzip members decode asynchronously; their size after inflating is bounded by maxFrameBytes.
const gzip = new GzipMemberDecoder({ maxFrameBytes: 1024 })
const members = Buffer.concat([gzipSync('{"a":1}'), gzipSync('{"b":2}')])
const inflated = []
for (const chunk of chunks(members)) inflated.push(...(await gzip.push(chunk)))
inflated.push(...(await gzip.end()))
console.log('gzip:', text(inflated))

const strict = new LineDecoder({ maxLineBytes: 4 })
const good = strict.push(Buffer.from('ok\nmuch too long\n'))
try {
  strict.push(Buffer.from('more\n'))
} catch (err) {
  console.log(`too long: ${err.code} after`, text(good))
}
