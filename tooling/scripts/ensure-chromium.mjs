#!/usr/bin/env node
// Makes sure Debian's chromium is at /usr/bin/chromium, which the krpc browser test drives
// through playwright-core. Installs it with apt-get when it is missing; fails loudly when it
// cannot, so the browser test is never skipped quietly.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const CHROMIUM = '/usr/bin/chromium'

function fail(message) {
  console.error(`ensure-chromium: ${message}`)
  process.exit(1)
}

function run(command) {
  console.log(`ensure-chromium: running ${command.join(' ')}`)
  const result = spawnSync(command[0], command.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
  if (result.error !== undefined) fail(`${command.join(' ')} could not start: ${result.error.message}`)
  if (result.status !== 0) fail(`${command.join(' ')} exited with ${result.status ?? result.signal}`)
}

if (existsSync(CHROMIUM)) {
  console.log(`ensure-chromium: ${CHROMIUM} is installed`)
  process.exit(0)
}
if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get')) {
  fail(`${CHROMIUM} is missing and there is no apt-get here to install it; install Debian's chromium package`)
}
let prefix = []
if (typeof process.getuid === 'function' && process.getuid() !== 0) {
  if (!existsSync('/usr/bin/sudo')) fail(`${CHROMIUM} is missing and installing it needs root (or sudo)`)
  prefix = ['sudo', '-n']
}
console.log(`ensure-chromium: ${CHROMIUM} is missing; installing Debian's chromium package`)
run([...prefix, 'apt-get', 'update'])
run([...prefix, 'apt-get', 'install', '-y', 'chromium'])
if (!existsSync(CHROMIUM)) fail(`apt-get finished but ${CHROMIUM} is still missing`)
const version = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' })
console.log(`ensure-chromium: installed ${(version.stdout ?? '').trim() || CHROMIUM}`)
