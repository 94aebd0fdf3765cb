// The closest valid word to a mistyped one, for "did you mean" in usage errors.

/**
 * The candidate `word` most likely stands for: the nearest by edit distance (a swap of two
 * neighbours counts once) within a third of its length, at least 1 and at most 3; else the one
 * candidate it begins, if only one does. `undefined` when nothing is close, or `word` is empty.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  if (word === '') return undefined
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)))
  let best: string | undefined
  let bestDistance = limit + 1
  const prefixed: string[] = []
  for (const candidate of candidates) {
    const d = distance(word, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
    if (word.length >= 2 && candidate.startsWith(word)) prefixed.push(candidate)
  }
  if (best !== undefined) return best
  return prefixed.length === 1 ? prefixed[0] : undefined
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function distance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d = new Array<number>(rows * cols).fill(0)
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, at(i - 2, j - 2) + 1)
      d[i * cols + j] = value
    }
  }
  return at(a.length, b.length)
}
