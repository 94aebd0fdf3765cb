// A published package as a user gets it: fresh projects outside the workspace, npm run with the
// user's own configuration, and the checks on what arrives (the files, the installed tree, every
// entry point) that check-install and the release rehearsal share.
import { spawn } from 'node:child_process'
import { mkdtempSync, realpathSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import process from 'node:process'
import { root } from './published-packages.mjs'

export const FRAMING = '@proto/framing'
export const STEP_TIMEOUT_MS = 60_000
// Mirrors check-workspace: framing plus at most the library a transport is built on.
export const THIRD_PARTY = new Map([
  ['korv', 'ssh2'],
  ['krpc', 'busboy'],
])
// Shipping src/ is deliberate (declaration maps point into it); these are not.
const UNSHIPPABLE = [
  [/(^|\/)(test|tests|__tests__|bench|benchmarks?)\//, 'a test or bench directory'],
  [/\.(test|spec|bench)\.(d\.)?[cm]?[jt]sx?(\.map)?$/, 'a test or bench file'],
  [/(^|\/)vitest\.config\.[cm]?[jt]s$/, 'test configuration'],
  [/\.tsbuildinfo$/, 'a tsbuildinfo file'],
]
// npm adds package.json, README and LICENSE to every tarball whatever `files` says; a package
// without them reaches users unexplained or unlicensed.
const REQUIRED = ['package.json', 'README.md', 'LICENSE']
// Every protocol package also describes its wire format in PROTOCOL.md, which only `files` brings
// along. framing has no wire protocol of its own: its README is its reference.
const WITHOUT_PROTOCOL_DOC = new Set([FRAMING])

// Run as a package script, this inherits pnpm's view of the workspace as npm_* and pnpm_*
// variables (local prefix, catalog, lockfile settings). Without them npm reads only its own
// config files, as it does for a user in a fresh shell.
export const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^p?npm_/i.test(key)))

/**
 * Runs a command to its end, killing it after `timeout` ms; never rejects.
 * @returns {Promise<{ code: number | null, signal: NodeJS.Signals | null, timedOut?: number, stdout: string, stderr: string }>}
 */
export function run(command, args, cwd, timeout = STEP_TIMEOUT_MS, env = cleanEnv) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timedOut
    const timer = setTimeout(() => {
      timedOut = timeout
      child.kill('SIGKILL')
    }, timeout)
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ code: null, signal: null, stdout, stderr: `${stderr}${err.message}\n` })
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, timedOut, stdout, stderr })
    })
  })
}

export const describeExit = (result) => {
  if (result.timedOut !== undefined) return `still running after ${result.timedOut / 1000} s, killed`
  return result.signal === null ? `exit ${result.code}` : `killed by ${result.signal}`
}

export const outputOf = (result) =>
  [result.stdout.trim() && `stdout:\n${result.stdout.trimEnd()}`, result.stderr.trim() && `stderr:\n${result.stderr.trimEnd()}`]
    .filter(Boolean)
    .join('\n')

/** A new directory under `parent` holding an empty ESM project; throws if that is inside the workspace. */
export function freshProject(prefix, parent = tmpdir()) {
  const dir = realpathSync(mkdtempSync(join(parent, prefix)))
  if (!relative(root, dir).startsWith('..')) throw new Error(`${dir} is inside the workspace; set TMPDIR elsewhere`)
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'install-check', private: true, type: 'module' }, null, 2)}\n`)
  return dir
}

/** Every file target in `exports` and `bin`, without the leading `./`, by kind. */
function targets(manifest) {
  const found = { types: new Set(), code: new Set() }
  const collect = (value, key) => {
    if (typeof value === 'string') (key === 'types' ? found.types : found.code).add(value.replace(/^\.\//, ''))
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) collect(v, k)
  }
  collect(manifest.exports)
  if (typeof manifest.types === 'string') found.types.add(manifest.types.replace(/^\.\//, ''))
  collect(typeof manifest.bin === 'string' ? { bin: manifest.bin } : manifest.bin)
  return found
}

/**
 * What a tarball of `files` (paths relative to the package) would give a user of `manifest`:
 * nothing unshippable, the README and LICENSE (and PROTOCOL.md, but for framing), every
 * `exports` and `bin` target, and a `.d.ts` beside every built `.js`.
 */
export function checkContents(files, manifest) {
  const problems = []
  for (const file of files) {
    const rule = UNSHIPPABLE.find(([pattern]) => pattern.test(file))
    if (rule) problems.push(`ships ${file} (${rule[1]})`)
  }
  const shipped = new Set(files)
  const required = WITHOUT_PROTOCOL_DOC.has(manifest.name) ? REQUIRED : [...REQUIRED, 'PROTOCOL.md']
  for (const file of required) if (!shipped.has(file)) problems.push(`${file} is not in the tarball`)
  const { types, code } = targets(manifest)
  if (types.size === 0) problems.push('declares no types')
  for (const target of types) if (!shipped.has(target)) problems.push(`types target ${target} is not in the tarball`)
  for (const target of code) if (!shipped.has(target)) problems.push(`target ${target} is not in the tarball`)
  for (const file of files) {
    if (file.startsWith('dist/') && file.endsWith('.js') && !shipped.has(file.replace(/\.js$/, '.d.ts'))) {
      problems.push(`${file} has no .d.ts beside it`)
    }
  }
  return { ok: problems.length === 0, detail: problems.length === 0 ? `${files.length} files, types present` : problems.join('\n') }
}

/**
 * Checks `npm ls --all --json` output: everything installed must be framing, the package
 * itself, its one third-party dependency or something that dependency pulls in. Every @proto
 * package must resolve from `source` (a URL prefix: `file:` for tarballs, the registry for a
 * release) and nothing else may.
 */
export function checkTree(tree, short, source) {
  const problems = []
  const allowed = new Set([FRAMING, THIRD_PARTY.get(short)].filter(Boolean))
  const own = tree.dependencies?.[`@proto/${short}`]
  if (own === undefined) problems.push(`@proto/${short} is not installed`)
  if ((tree.dependencies?.[FRAMING] ?? own?.dependencies?.[FRAMING]) === undefined) problems.push(`${FRAMING} is not installed`)
  const walk = (node, path) => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      if (name === THIRD_PARTY.get(short)) continue
      if (name === FRAMING && Object.keys(child.dependencies ?? {}).length > 0) {
        problems.push(`${FRAMING} brings in ${Object.keys(child.dependencies).join(', ')}`)
      }
      if (path.length === 0 ? name !== FRAMING && name !== `@proto/${short}` : !allowed.has(name)) {
        problems.push(`${[...path, name].join(' > ')} is installed`)
      }
      if (name === `@proto/${short}`) walk(child, [name])
    }
  }
  const sources = (node, path) => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      const ours = name.startsWith('@proto/')
      // A deduped entry carries only its version; the copy it stands for is checked where listed.
      const deduped = Object.keys(child).length === 1 && 'version' in child
      if (!deduped && ours !== String(child.resolved ?? '').startsWith(source)) {
        problems.push(`${[...path, name].join(' > ')} resolved to ${child.resolved}, ${ours ? 'not' : 'yet'} from ${source}`)
      }
      sources(child, [...path, name])
    }
  }
  walk(tree, [])
  sources(tree, [])
  const names = []
  const list = (node) => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      if (!names.includes(name)) names.push(name)
      list(child)
    }
  }
  list(tree)
  return { ok: problems.length === 0, detail: problems.length === 0 ? `only ${names.join(', ')}` : problems.join('\n') }
}

/**
 * Loads every `exports` subpath of the installed package `manifest` in `dir`, once through
 * `import` and once through `require()` (Node 20.19 and later load ES modules both ways).
 */
export async function checkImports(dir, manifest) {
  const specifiers = Object.keys(manifest.exports ?? { '.': null }).map((subpath) =>
    subpath === '.' ? manifest.name : `${manifest.name}${subpath.slice(1)}`,
  )
  const esm = specifiers
    .map((s) => `await import(${JSON.stringify(s)}${s.endsWith('.json') ? ", { with: { type: 'json' } }" : ''})`)
    .join('\n')
  const cjs = specifiers.map((s) => `require(${JSON.stringify(s)})`).join('\n')
  const problems = []
  for (const [how, args] of [
    ['import', ['--input-type=module', '-e', esm]],
    ['require', ['--input-type=commonjs', '-e', cjs]],
  ]) {
    const result = await run(process.execPath, args, dir)
    if (result.code !== 0) problems.push(`${how}: ${describeExit(result)}\n${outputOf(result)}`)
  }
  return { ok: problems.length === 0, detail: problems.length === 0 ? `import and require(): ${specifiers.join(', ')}` : problems.join('\n') }
}
