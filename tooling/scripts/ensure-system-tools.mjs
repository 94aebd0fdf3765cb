#!/usr/bin/env node
// Makes sure the programs the test suite drives besides Node are installed, so that `pnpm test`
// runs on a machine that has only Node and npm: missing ones are installed from Debian's packages
// with apt-get (as root, or through sudo), and when that cannot be done the run stops here with
// one line naming what is missing, rather than failing test by test or skipping any.
import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'

// The same probe as tooling/interop: korv's original needs asyncssh, krpc's needs cgi (gone in Python 3.13).
const PYTHON_PROBE = 'import asyncssh, cgi'

const searchPath = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '')

/** Every executable named `name` on PATH (and in `extraDirs`), in search order. */
function executables(name, extraDirs = []) {
  return [...searchPath, ...extraDirs]
    .map((dir) => join(dir, name))
    .filter((candidate) => {
      try {
        accessSync(candidate, constants.X_OK)
        return true
      } catch {
        return false
      }
    })
}

function pythonRunsOriginals() {
  const chosen = process.env.PROTO_PYTHON
  // A chosen Python is the user's to provide: tooling/interop says when it cannot run the originals.
  if (chosen !== undefined && chosen !== '') return true
  return executables('python3').some(
    (python) => spawnSync(python, ['-B', '-W', 'ignore', '-c', PYTHON_PROBE], { stdio: 'ignore', timeout: 30_000 }).status === 0,
  )
}

/** What each suite needs, how to tell it is there, and the Debian packages that provide it. */
const TOOLS = [
  { what: 'openssl (the TLS tests make their certificates with it)', present: () => executables('openssl').length > 0, packages: ['openssl'] },
  { what: 'ssh-keygen (korv\'s examples make their keys with it)', present: () => executables('ssh-keygen').length > 0, packages: ['openssh-client'] },
  { what: '/usr/bin/chromium (krpc\'s browser test drives it)', present: () => existsSync('/usr/bin/chromium'), packages: ['chromium'] },
  {
    what: 'a python3 that imports asyncssh and cgi (tooling/interop runs the originals with it; or set PROTO_PYTHON)',
    present: pythonRunsOriginals,
    packages: ['python3', 'python3-asyncssh'],
  },
  {
    what: 'haproxy (tooling/scale runs it in front of the servers; or set PROTO_HAPROXY)',
    present: () => Boolean(process.env.PROTO_HAPROXY) || executables('haproxy', ['/usr/sbin', '/usr/local/sbin']).length > 0,
    packages: ['haproxy'],
  },
]

function fail(message) {
  console.error(`ensure-system-tools: ${message}`)
  process.exit(1)
}

function run(command) {
  console.log(`ensure-system-tools: running ${command.join(' ')}`)
  const result = spawnSync(command[0], command.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
  if (result.error !== undefined) fail(`${command.join(' ')} could not start: ${result.error.message}`)
  if (result.status !== 0) fail(`${command.join(' ')} exited with ${result.status ?? result.signal}`)
}

const missing = TOOLS.filter((tool) => !tool.present())
if (missing.length === 0) {
  console.log('ensure-system-tools: openssl, ssh-keygen, chromium, python3 with asyncssh and haproxy are installed')
  process.exit(0)
}
const packages = missing.flatMap((tool) => tool.packages)
const wanted = `missing: ${missing.map((tool) => tool.what).join('; ')}`
if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get')) {
  fail(`${wanted}; there is no apt-get here to install them (Debian: apt-get install -y ${packages.join(' ')})`)
}
let prefix = []
if (typeof process.getuid === 'function' && process.getuid() !== 0) {
  if (!existsSync('/usr/bin/sudo')) fail(`${wanted}; installing them needs root (or sudo): apt-get install -y ${packages.join(' ')}`)
  prefix = ['sudo', '-n']
}
console.log(`ensure-system-tools: ${wanted}; installing Debian's ${packages.join(', ')}`)
run([...prefix, 'apt-get', 'update', '-qq'])
run([...prefix, 'apt-get', 'install', '-y', '-qq', ...packages])
const stillMissing = missing.filter((tool) => !tool.present())
if (stillMissing.length > 0) {
  // Debian 13's python3 is 3.13, which has no cgi: no package makes the originals run there.
  const pythonHint = stillMissing.some((tool) => tool.packages.includes('python3-asyncssh'))
    ? ' (the originals need Python 3.9 to 3.12: set PROTO_PYTHON to one that has asyncssh)'
    : ''
  fail(`apt-get finished but these are still missing: ${stillMissing.map((tool) => tool.what).join('; ')}${pythonHint}`)
}
console.log(`ensure-system-tools: installed ${packages.join(', ')}`)
