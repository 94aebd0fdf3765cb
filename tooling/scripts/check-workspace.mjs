// Checks the rules every workspace package follows that no compiler or linter sees: which
// packages may depend on which, and what a published package must carry. Each problem is
// printed on its own line so one run shows everything that needs fixing.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { protocolDocProblems, readVectorFile, vectorsDir } from './protocol-docs.mjs'
import { readmeExampleProblems } from './readme-examples.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const FRAMING = '@proto/framing'
// Beyond framing, a package may pull in only the library its transport is built on; everything
// else is written here so installs stay small and auditable.
const THIRD_PARTY = new Map([
  ['@proto/korv', ['ssh2']],
  ['@proto/krpc', ['busboy']],
])
const RUNTIME_FIELDS = ['dependencies', 'optionalDependencies', 'peerDependencies']
const ALL_FIELDS = [...RUNTIME_FIELDS, 'devDependencies']

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))

// Only the `dir/*` and `dir` forms are read, which is all pnpm-workspace.yaml uses; anything
// else is refused rather than silently skipped.
function workspacePackages() {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8')
  const block = /^packages:\n((?:[ \t]+-.*\n?)*)/m.exec(yaml)?.[1] ?? ''
  const patterns = [...block.matchAll(/^[ \t]+-[ \t]*['"]?([^'"\s#]+)['"]?/gm)].map((m) => m[1])
  const dirs = patterns.flatMap((pattern) => {
    if (/^[\w.-]+\/\*$/.test(pattern)) {
      const parent = pattern.slice(0, -2)
      return readdirSync(join(root, parent), { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => posix.join(parent, entry.name))
    }
    if (/^[\w.-]+(\/[\w.-]+)*$/.test(pattern)) return [pattern]
    throw new Error(`pnpm-workspace.yaml: pattern ${pattern} is not supported by this check`)
  })
  return dirs
    .filter((dir) => existsSync(join(root, dir, 'package.json')))
    .map((dir) => ({ dir, manifest: readJson(join(root, dir, 'package.json')) }))
}

function changesetNames() {
  const dir = join(root, '.changeset')
  const names = new Set()
  if (!existsSync(dir)) return names
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.md') || file === 'README.md') continue
    const frontmatter = /^---\r?\n([\s\S]*?)\r?\n---/.exec(readFileSync(join(dir, file), 'utf8'))?.[1] ?? ''
    for (const m of frontmatter.matchAll(/^\s*['"]?([^'":\s]+)['"]?\s*:/gm)) names.add(m[1])
  }
  return names
}

function hasTestFile(dir) {
  if (!existsSync(dir)) return false
  return readdirSync(dir, { recursive: true, withFileTypes: true }).some(
    (entry) => entry.isFile() && entry.name.endsWith('.test.ts'),
  )
}

// A condition object that resolves to files must name its types first, or TypeScript picks an
// earlier condition's .js and finds no declarations. Objects holding only nested conditions
// are looked into instead.
function exportsProblems(exportsField) {
  if (exportsField === null || typeof exportsField !== 'object' || Array.isArray(exportsField)) {
    return ['`exports` must be an object of subpaths']
  }
  const problems = []
  if (!('.' in exportsField)) problems.push('`exports` has no "." entry')
  const visit = (value, at) => {
    if (value === null || typeof value !== 'object') return
    if (Array.isArray(value)) {
      problems.push(`exports${at} is a fallback array; use one target per condition`)
      return
    }
    const keys = Object.keys(value)
    const isConditions = keys.length > 0 && !keys[0].startsWith('.')
    if (isConditions && keys.some((key) => typeof value[key] === 'string') && keys[0] !== 'types') {
      problems.push(`exports${at} must list "types" first (it lists ${keys.map((k) => `"${k}"`).join(', ')})`)
    }
    for (const key of keys) visit(value[key], `${at}[${JSON.stringify(key)}]`)
  }
  visit(exportsField, '')
  return problems
}

// framing defines no wire protocol of its own (its README is its reference); every other package
// ships PROTOCOL.md, whose worked examples must be the captured bytes they name.
const WITHOUT_PROTOCOL_DOC = new Set([FRAMING])

function protocolDocChecks(dir, manifest) {
  const file = join(root, dir, 'PROTOCOL.md')
  if (!existsSync(file)) return ['PROTOCOL.md is missing (the wire format, a worked exchange, limits, compatibility)']
  const problems = []
  if (!(manifest.files ?? []).includes('PROTOCOL.md')) problems.push('`files` does not list PROTOCOL.md, so the tarball would lack it')
  const markdown = readFileSync(file, 'utf8')
  // The page is read on npm, where nothing outside the package resolves.
  for (const [i, line] of markdown.split('\n').entries()) {
    if (/\]\((?:\.\.\/|\/)/.test(line) || /\bshared\//.test(line)) {
      problems.push(`PROTOCOL.md line ${i + 1} points outside the package: ${line.trim()}`)
    }
  }
  const vectors = vectorsDir()
  if (!existsSync(vectors)) return [...problems, `PROTOCOL.md: no captured vectors at ${vectors} to check its worked examples against (set PROTO_VECTORS_DIR)`]
  for (const problem of protocolDocProblems(markdown, (name) => readVectorFile(vectors, name))) problems.push(`PROTOCOL.md ${problem}`)
  return problems
}

// A README's js blocks are its examples/ files, and its links stay inside the package: the page is
// read on npm, where nothing else resolves.
function readmeChecks(dir) {
  const file = join(root, dir, 'README.md')
  if (!existsSync(file)) return []
  const markdown = readFileSync(file, 'utf8')
  const readExample = (path) => (existsSync(join(root, dir, path)) ? readFileSync(join(root, dir, path), 'utf8') : undefined)
  const problems = readmeExampleProblems(markdown, readExample).map((problem) => `README.md ${problem}`)
  for (const [i, line] of markdown.split('\n').entries()) {
    if (/\]\((?:\.\.\/|\/)/.test(line)) problems.push(`README.md line ${i + 1} links outside the package: ${line.trim()}`)
  }
  return problems
}

const normalizeTarget = (target) => posix.normalize(target).replace(/^\.\//, '')

function binProblems(dir, manifest, shortName) {
  const problems = []
  const bins = typeof manifest.bin === 'string' ? { [shortName]: manifest.bin } : (manifest.bin ?? {})
  const cli = join(root, dir, 'src/cli.ts')
  if (existsSync(cli)) {
    if (bins[shortName] === undefined || normalizeTarget(bins[shortName]) !== 'dist/cli.js') {
      problems.push(`src/cli.ts exists, so \`bin\` must map "${shortName}" to ./dist/cli.js`)
    }
    if (!readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node')) {
      problems.push('src/cli.ts must start with `#!/usr/bin/env node`, or the installed bin is not runnable')
    }
  }
  for (const [name, target] of Object.entries(bins)) {
    const built = /^dist\/(.+)\.js$/.exec(normalizeTarget(target))
    if (!built) problems.push(`bin "${name}" points at ${target}, not a .js file under dist/`)
    else if (!existsSync(join(root, dir, 'src', `${built[1]}.ts`))) {
      problems.push(`bin "${name}" points at ${target}, but src/${built[1]}.ts does not exist`)
    }
  }
  return problems
}

const packages = workspacePackages()
const byName = new Map(packages.map((pkg) => [pkg.manifest.name, pkg]))
const published = packages.filter((pkg) => pkg.dir.startsWith('packages/') && pkg.manifest.private !== true)
const rootEngines = readJson(join(root, 'package.json')).engines?.node
const changesets = changesetNames()
const problems = []
// Every tarball carries the root LICENSE word for word, under the licence its manifest names.
const rootLicense = existsSync(join(root, 'LICENSE')) ? readFileSync(join(root, 'LICENSE'), 'utf8') : undefined
const licenseId = /^(\S+) License$/m.exec(rootLicense ?? '')?.[1]
if (rootLicense === undefined) problems.push('LICENSE is missing at the repository root')
else if (licenseId === undefined) problems.push('LICENSE at the repository root does not open with a "<SPDX id> License" line')

for (const { dir, manifest } of published) {
  const name = manifest.name
  const report = (message) => problems.push(`${name} (${dir}): ${message}`)
  const shortName = name.replace(/^@[^/]+\//, '')

  for (const field of ALL_FIELDS) {
    for (const dep of Object.keys(manifest[field] ?? {})) {
      const target = byName.get(dep)
      if (target === undefined || (dep === FRAMING && name !== FRAMING)) continue
      // Shared configs (tsconfig, vitest, eslint) are private and never reach an install.
      if (field === 'devDependencies' && target.manifest.private === true) continue
      const rule = name === FRAMING ? 'it depends on no workspace package' : `its only workspace dependency is ${FRAMING}`
      report(`${field} names workspace package ${dep}; ${rule}`)
    }
  }

  const allowed = new Set([...(name === FRAMING ? [] : [FRAMING]), ...(THIRD_PARTY.get(name) ?? [])])
  for (const field of RUNTIME_FIELDS) {
    for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
      if (!allowed.has(dep)) {
        // A workspace package out of place was reported by the loop above.
        if (!byName.has(dep)) report(`${field} names ${dep}; allowed at run time: ${[...allowed].join(', ') || 'none'}`)
      } else if (dep === FRAMING && range !== 'workspace:^') {
        // `workspace:^` publishes as ^<version>, so a framing fix reaches installed packages.
        report(`${field} must use "workspace:^" for ${FRAMING} (found "${range}")`)
      }
    }
  }

  if (!existsSync(join(root, dir, 'README.md'))) report('README.md is missing')
  if (!existsSync(join(root, dir, 'LICENSE'))) report('LICENSE is missing (copy the root LICENSE)')
  else if (rootLicense !== undefined && readFileSync(join(root, dir, 'LICENSE'), 'utf8') !== rootLicense) {
    report('LICENSE differs from the root LICENSE')
  }
  if (licenseId !== undefined && manifest.license !== licenseId) {
    report(`\`license\` is ${JSON.stringify(manifest.license)}, the root LICENSE is ${licenseId}`)
  }
  if (!existsSync(join(root, dir, 'CHANGELOG.md')) && !changesets.has(name)) {
    report('has neither CHANGELOG.md nor a changeset in .changeset/')
  }
  if (!hasTestFile(join(root, dir, 'test'))) report('test/ has no *.test.ts file')
  if (!WITHOUT_PROTOCOL_DOC.has(name)) for (const problem of protocolDocChecks(dir, manifest)) report(problem)
  for (const problem of readmeChecks(dir)) report(problem)

  if (manifest.exports === undefined) report('`exports` is missing')
  else for (const problem of exportsProblems(manifest.exports)) report(problem)
  if (typeof manifest.types !== 'string') report('`types` is missing')
  if (manifest.engines?.node === undefined) report('`engines.node` is missing')
  else if (rootEngines !== undefined && manifest.engines.node !== rootEngines) {
    report(`\`engines.node\` is "${manifest.engines.node}", the workspace supports "${rootEngines}"`)
  }
  if (manifest.type !== 'module') report('`type` must be "module"')
  if (manifest.sideEffects !== false) report('`sideEffects` must be false')
  for (const problem of binProblems(dir, manifest, shortName)) report(problem)
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`✗ ${problem}`)
  console.error(`check-workspace: ${problems.length} problem(s) in ${published.length} published package(s)`)
  process.exit(1)
}
console.log(
  `check-workspace: OK, ${published.length} published package(s) (${published.map((p) => p.manifest.name).join(', ')}), ` +
    `${packages.length - published.length} private`,
)
