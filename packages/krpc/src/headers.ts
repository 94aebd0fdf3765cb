// Reading headers: from a message's raw header list, without the `headers` object node:http builds on first use, and the media type of a Content-Type. No `node:` module here.
/**
 * The first value of header `name` (lower case) in a message's raw header list: what
 * `message.headers[name]` gives for `content-type` and `content-length`, whose repeats node:http
 * drops, without making the `headers` object that reading it builds on first use.
 */
export function firstHeader(rawHeaders: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]
    if (key !== undefined && key.length === name.length && key.toLowerCase() === name) return rawHeaders[i + 1]
  }
  return undefined
}

/** The media type of a `Content-Type` value, lower case, without parameters. */
export function mediaType(contentType: string | null | undefined): string {
  if (contentType === null || contentType === undefined) return ''
  const semi = contentType.indexOf(';')
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
}

/**
 * The transfer codings of a request, in order, lower case, from every `Transfer-Encoding` field:
 * `['chunked']` for a chunked body, `[]` for none.
 */
export function transferCodings(rawHeaders: readonly string[]): string[] {
  const codings: string[] = []
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]
    if (key === undefined || key.length !== 17 || key.toLowerCase() !== 'transfer-encoding') continue
    for (const coding of (rawHeaders[i + 1] ?? '').split(',')) {
      const name = coding.trim().toLowerCase()
      if (name !== '') codings.push(name)
    }
  }
  return codings
}
