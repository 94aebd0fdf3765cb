// README code blocks are the package's examples: every ```js or ```javascript block in a package
// README follows a `<!-- example: examples/<name>.mjs -->` line and is that file, whole, so no
// README example can drift from what the examples suite runs.

const MARKER = /^<!-- example: (examples\/[\w.-]+\.mjs) -->$/
const FENCE = /^(`{3,}|~{3,})\s*([\w-]*)/

/**
 * What is wrong with the JS blocks of `markdown`; `readExample(path)` returns the text of
 * `examples/<name>.mjs` in the package, or undefined when there is no such file.
 * @param {string} markdown
 * @param {(path: string) => string | undefined} readExample
 * @returns {string[]}
 */
export function readmeExampleProblems(markdown, readExample) {
  const problems = []
  const lines = markdown.split('\n')
  let marker
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const markerMatch = MARKER.exec(line.trim())
    if (markerMatch) {
      if (marker !== undefined) problems.push(`line ${marker.line}: the marker for ${marker.path} has no js block after it`)
      marker = { path: markerMatch[1], line: i + 1 }
      continue
    }
    const fence = FENCE.exec(line)
    if (!fence) {
      if (line.trim() !== '' && marker !== undefined) {
        problems.push(`line ${marker.line}: the marker for ${marker.path} has no js block after it`)
        marker = undefined
      }
      continue
    }
    const close = lines.findIndex((l, j) => j > i && l.startsWith(fence[1]) && l.trim() === fence[1])
    const end = close === -1 ? lines.length : close
    const language = fence[2].toLowerCase()
    if (language === 'js' || language === 'javascript') {
      const block = `${lines.slice(i + 1, end).join('\n')}\n`
      if (marker === undefined) problems.push(`line ${i + 1}: a js block without a <!-- example: examples/<name>.mjs --> line before it`)
      else {
        const file = readExample(marker.path)
        if (file === undefined) problems.push(`line ${marker.line}: ${marker.path} does not exist`)
        else if (file !== block) problems.push(`line ${i + 1}: the block differs from ${marker.path}${firstDifference(block, file)}`)
      }
    } else if (marker !== undefined) problems.push(`line ${marker.line}: the marker for ${marker.path} is followed by a ${language || 'plain'} block, not js`)
    marker = undefined
    i = end
  }
  if (marker !== undefined) problems.push(`line ${marker.line}: the marker for ${marker.path} has no js block after it`)
  return problems
}

function firstDifference(block, file) {
  const a = block.split('\n')
  const b = file.split('\n')
  const at = a.findIndex((line, i) => line !== b[i])
  const n = at === -1 ? a.length : at
  return ` from its line ${n + 1} (block: ${JSON.stringify(a[n] ?? '(end)')}, file: ${JSON.stringify(b[n] ?? '(end)')})`
}
