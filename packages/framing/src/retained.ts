// What a chunk kept as it came costs in memory: the measure every buffer of input is bounded by.

/**
 * Bytes of objects around a Buffer beyond its ArrayBuffer: the Buffer and ArrayBuffer objects and
 * their native parts, measured at some 500 bytes for a 1-byte socket read on Node 20 to 24.
 */
const CHUNK_OVERHEAD = 512

/**
 * The memory `chunk` holds while it is kept as it came: its whole ArrayBuffer, which a small view
 * keeps alive too, plus 512 bytes for the objects around it. A 1-byte socket read costs 513; a
 * 1-byte slice of a 64 KiB read, 66 048. Queues that keep chunks whole count this, not `length`.
 */
export function retainedBytes(chunk: Uint8Array): number {
  return chunk.buffer.byteLength + CHUNK_OVERHEAD
}
