// The byte order every multi-byte integer reader and prefix layout takes.

/** Byte order of multi-byte integers. */
export type Endian = 'be' | 'le'
