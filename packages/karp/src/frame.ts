// The shapes of KARP frames and payloads, as the codec reads and writes them.

/** What a request or response carries: bytes, or a string sent as UTF-8. */
export type KarpPayload = Uint8Array | string

/** The fields of a request before its data. */
export interface KarpRequestHeader {
  /** A request (type 0). */
  readonly type: 'request'
  /** Lowercased. */
  readonly route: string
  /** 16 ASCII digits. */
  readonly id: string
  /** `false` for a notification: no reply is sent. */
  readonly wantsReply: boolean
}

/** The fields of a response before its data. */
export interface KarpResponseHeader {
  /** A response (type 1). */
  readonly type: 'response'
  /** The id of the request it answers. */
  readonly id: string
  /** `false`: the data is a UTF-8 error message. */
  readonly success: boolean
}

/** The fields of a frame before its data. */
export type KarpFrameHeader = KarpRequestHeader | KarpResponseHeader
/** A decoded request line. */
export type KarpRequestFrame = KarpRequestHeader & {
  /** The payload, base64-decoded. */
  readonly data: Uint8Array
}
/** A decoded response line. */
export type KarpResponseFrame = KarpResponseHeader & {
  /** The payload, base64-decoded. */
  readonly data: Uint8Array
}
/** One decoded line. */
export type KarpFrame = KarpRequestFrame | KarpResponseFrame
