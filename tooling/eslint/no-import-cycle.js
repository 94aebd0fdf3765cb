// An ESLint rule that refuses import cycles between a package's own files, type-only imports
// included: a cycle that carries only types still says two files share a concept that belongs in
// a leaf file of its own.
import fs from 'node:fs'
import path from 'node:path'
import ts from 'typescript'

/** Relative imports of a file, resolved to paths, whatever their kind (type, re-export, dynamic). */
function importsOf(file, cache) {
  let found = cache.get(file)
  if (found !== undefined) return found
  found = []
  cache.set(file, found)
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return found
  }
  for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
    if (!fileName.startsWith('./') && !fileName.startsWith('../')) continue
    found.push(path.resolve(path.dirname(file), fileName))
  }
  return found
}

/** The shortest chain of imports from `start` back to `target`, or undefined. */
function pathBack(start, target, cache) {
  const cameFrom = new Map([[start, undefined]])
  const queue = [start]
  while (queue.length > 0) {
    const file = queue.shift()
    for (const next of importsOf(file, cache)) {
      if (next === target) {
        const chain = [file]
        for (let at = cameFrom.get(file); at !== undefined; at = cameFrom.get(at)) chain.unshift(at)
        return chain
      }
      if (cameFrom.has(next)) continue
      cameFrom.set(next, file)
      queue.push(next)
    }
  }
  return undefined
}

export const noImportCycle = {
  meta: {
    type: 'problem',
    docs: { description: 'Disallow import cycles between files, type-only imports included.' },
    schema: [],
    messages: { cycle: 'Import cycle: {{chain}}. Move what both files need into a file of its own.' },
  },
  create(context) {
    const file = context.filename
    // Each file is read once per lint run of this file; a run lints few enough files for that.
    const cache = new Map()
    const check = (node, source) => {
      if (typeof source !== 'string' || !(source.startsWith('./') || source.startsWith('../'))) return
      const imported = path.resolve(path.dirname(file), source)
      const chain = pathBack(imported, file, cache)
      if (chain === undefined) return
      const names = [file, ...chain, file].map((f) => path.relative(path.dirname(file), f) || path.basename(f))
      context.report({ node, messageId: 'cycle', data: { chain: names.join(' → ') } })
    }
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => check(node, node.source?.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => check(node, node.source.type === 'Literal' ? node.source.value : undefined),
    }
  },
}
