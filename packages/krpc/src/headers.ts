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
