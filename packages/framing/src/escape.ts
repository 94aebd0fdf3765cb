// escapeControl: any string made safe to print as one terminal line.

// C0, DEL, C1, U+2028/U+2029 and a lone surrogate: what gets a visible escape. Without the `u`
// flag a regex sees UTF-16 code units, so it can single out a surrogate without its other half.
const ESCAPED = String.raw`[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]`
const ANY = new RegExp(`${ESCAPED}|\\\\`)
const EACH = new RegExp(`${ESCAPED}|\\\\`, 'g')
// What follows a backslash that must be doubled: a letter that could continue an escape, another
// backslash, or a character that is itself escaped (its escape begins with a backslash).
const AFTER_BACKSLASH = new RegExp(`^(?:[\\\\xuntr]|${ESCAPED})`)

const SHORT: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' }

/**
 * `text` with every character a terminal may act on written as a visible escape, so a peer's
 * text can neither move the cursor, retitle the window nor forge a new line: C0 controls as
 * `\t`, `\n`, `\r` or `\xHH`, DEL as `\x7f`, C1 controls (U+0080–U+009F) as `\u0080`…`\u009f`,
 * U+2028 and U+2029 as `\u2028` and `\u2029`, and a lone surrogate as `\udXXX`. A backslash is
 * written `\\` when what follows would otherwise make it read as an escape (`\`, `x`, `u`, `n`,
 * `t`, `r`, or an escaped character), so distinct inputs always give distinct outputs while a
 * Windows path stays readable. Everything else, other scripts and emoji included, is kept.
 */
export function escapeControl(text: string): string {
  if (!ANY.test(text)) return text
  return text.replace(EACH, (char: string, at: number) => {
    if (char === '\\') return AFTER_BACKSLASH.test(text.slice(at + 1, at + 3)) ? '\\\\' : '\\'
    const short = SHORT[char]
    if (short !== undefined) return short
    const code = char.charCodeAt(0)
    return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}
