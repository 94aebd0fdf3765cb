// cliCases: the conformance table every bin's test runs against its built bin, in a child process.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { dirname, join } from 'node:path'
import process from 'node:process'
import type { CliDefinition, VerbDefinition } from '../cli/definition.ts'
import { codePrefix, positionalLabel } from '../cli/definition.ts'

/** A local peer the escaping case talks to; see `CliCasesOptions.fakePeer`. */
export interface FakePeer {
  /** Where it listens on 127.0.0.1. */
  port: number
  /** Stops it; the case calls it when done. */
  close(): Promise<void>
}

/** Options of `cliCases`. */
export interface CliCasesOptions {
  /** The built bin (`dist/cli.js`), run with this Node in a child process as a user runs it. */
  bin: string
  /** The bin's declaration, for the verbs and options its help must explain. */
  cli: CliDefinition
  /** Arguments `serve` needs besides `--host` and `--port` (korv's keys). @default [] */
  serveArgs?: readonly string[]
  /** The arguments of a client verb against `target` (`127.0.0.1:PORT`) that prints text from the peer. */
  client(target: string): string[]
  /**
   * Starts a peer on 127.0.0.1, port 0, that answers `client(...)` with text holding
   * `ESC]0;pwned BEL` (a window title) and `ESC[2J` (clear screen), in whatever the protocol
   * prints: a reply, an error message.
   */
  fakePeer(): Promise<FakePeer>
}

/** One case of the table: a test name and the check, which rejects with an AssertionError. */
export interface CliCase {
  /** The test's name. */
  name: string
  /** Runs the bin and checks what it did. */
  run(): Promise<void>
}

interface Outcome {
  code: number | null
  out: string
  err: string
}

// A stack frame as Node prints one, and what node:util parseArgs says in its own words.
const STACK_FRAME = /^\s+at .+(?::\d+:\d+\)?|\(native\))$/m
const PARSE_ARGS_WORDING = /ERR_PARSE_ARGS|ambiguous|Unknown option '|To specify a positional argument|Unexpected argument '/
// Only a runaway child reaches this; every case waits on the child's own exit.
const RUNAWAY_MS = 20_000

/**
 * The cases every bin passes, for `for (const c of cliCases({...})) it(c.name, () => c.run())`:
 * `--version` prints the package's version; `--help` and each `<verb> --help` explain every
 * declared option; usage mistakes (no command, an unknown one, an unknown option, a missing
 * positional, an integer out of range) exit 2 with the usage on stderr and none of parseArgs's
 * wording; `serve` on a busy port exits 2 with `(ERR_<BIN>_LISTEN)`; a client verb with no
 * server exits 2 with `(ERR_<BIN>_CONNECT)`, and with `--json` prints that error as one JSON line;
 * peer text from `fakePeer` reaches the terminal escaped. No output of any case holds a stack
 * trace. Each case runs the built bin in its own child process.
 */
export function cliCases(options: CliCasesOptions): CliCase[] {
  const { cli, bin } = options
  const prefix = codePrefix(cli)
  const runBin = (args: readonly string[]): Promise<Outcome> => runChild(bin, args)
  const cases: CliCase[] = [
    {
      name: '--version prints the version of the package',
      run: async () => {
        const manifest = JSON.parse(readFileSync(join(dirname(bin), '..', 'package.json'), 'utf8')) as { version: string }
        assert.deepEqual(await runBin(['--version']), { code: 0, out: `${manifest.version}\n`, err: '' })
      },
    },
    {
      name: '--help explains every verb and every option',
      run: async () => {
        const result = await runBin(['--help'])
        assert.equal(result.code, 0, result.err)
        assert.equal(result.err, '')
        for (const verb of cli.verbs) {
          assert.ok(result.out.includes(`Usage: ${cli.name} ${verb.name}`), `--help shows ${verb.name}`)
          for (const name of Object.keys(verb.options ?? {})) assert.ok(result.out.includes(`--${name}`), `--help shows --${name} of ${verb.name}`)
        }
      },
    },
    ...cli.verbs.map(
      (verb): CliCase => ({
        name: `${verb.name} --help explains its arguments and options`,
        run: async () => {
          const result = await runBin([verb.name, '--help'])
          assert.equal(result.code, 0, result.err)
          assert.equal(result.err, '')
          assert.ok(result.out.startsWith(`Usage: ${cli.name} ${verb.name}`), result.out)
          for (const positional of verb.positionals ?? []) assert.ok(result.out.includes(positionalLabel(positional)))
          for (const name of Object.keys(verb.options ?? {})) assert.ok(result.out.includes(`--${name}`), `shows --${name}`)
          assert.ok(result.out.includes('-h, --help'))
        },
      }),
    ),
    usageCase(runBin, cli, 'no command', [], 'missing command'),
    usageCase(runBin, cli, 'an unknown command', ['no-such-command'], 'unknown command no-such-command'),
    ...cli.verbs.flatMap((verb) => verbUsageCases(runBin, cli, verb)),
  ]
  if (cli.verbs.some((verb) => verb.name === 'serve')) {
    cases.push({
      name: `serve on a busy port exits 2 with ${prefix}_LISTEN`,
      run: async () => {
        const busy = net.createServer()
        busy.listen(0, '127.0.0.1')
        await once(busy, 'listening')
        try {
          const port = (busy.address() as net.AddressInfo).port
          const result = await runBin(['serve', '--host', '127.0.0.1', '--port', String(port), ...(options.serveArgs ?? [])])
          assert.equal(result.code, 2, result.err)
          assert.equal(result.out, '')
          assert.match(result.err.split('\n')[0] ?? '', new RegExp(`^${cli.name}: .+ \\(${prefix}_LISTEN\\)$`))
        } finally {
          busy.close()
        }
      },
    })
  }
  cases.push(
    {
      name: `a client verb with no server exits 2 with ${prefix}_CONNECT`,
      run: async () => {
        const result = await runBin(options.client(`127.0.0.1:${await freePort()}`))
        assert.equal(result.code, 2, result.err)
        assert.equal(result.out, '')
        assert.match(result.err.split('\n')[0] ?? '', new RegExp(`^${cli.name}: .+ \\(${prefix}_CONNECT\\)$`))
      },
    },
    {
      name: 'a client verb with --json prints the error as one JSON line on stdout',
      run: async () => {
        const result = await runBin([...options.client(`127.0.0.1:${await freePort()}`), '--json'])
        assert.equal(result.code, 2, result.err)
        assert.ok(result.out.endsWith('\n') && result.out.indexOf('\n') === result.out.length - 1, `one line: ${result.out}`)
        const json = JSON.parse(result.out) as { error?: { code?: unknown; message?: unknown } }
        assert.equal(json.error?.code, `${prefix}_CONNECT`)
        assert.equal(typeof json.error.message, 'string')
        assert.ok(result.err.includes(`(${prefix}_CONNECT)`))
      },
    },
    {
      name: "the peer's text reaches the terminal escaped",
      run: async () => {
        const peer = await options.fakePeer()
        try {
          const result = await runBin(options.client(`127.0.0.1:${peer.port}`))
          const all = result.out + result.err
          assert.doesNotMatch(all, /[\u001b\u0007\u009b]/, `raw control characters in ${JSON.stringify(all)}`)
          assert.ok(all.includes(String.raw`\x1b]0;pwned\x07`), `the title sequence, escaped, in ${JSON.stringify(all)}`)
          assert.ok(all.includes(String.raw`\x1b[2J`), `the clear sequence, escaped, in ${JSON.stringify(all)}`)
        } finally {
          await peer.close()
        }
      },
    },
  )
  return cases
}

function usageCase(runBin: (args: readonly string[]) => Promise<Outcome>, cli: CliDefinition, what: string, args: string[], says: string): CliCase {
  return {
    name: `${[cli.name, ...args].join(' ')}: ${what} is a usage error, exit 2`,
    run: async () => {
      const result = await runBin(args)
      assert.equal(result.code, 2, result.err)
      assert.equal(result.out, '')
      const [first = ''] = result.err.split('\n')
      assert.ok(first.startsWith(`${cli.name}: ${says}`), first)
      assert.ok(first.endsWith('(ERR_PROTO_CLI_USAGE)'), first)
      assert.ok(result.err.includes('Usage: '), 'the usage follows')
      assert.doesNotMatch(result.err, PARSE_ARGS_WORDING)
    },
  }
}

function verbUsageCases(runBin: (args: readonly string[]) => Promise<Outcome>, cli: CliDefinition, verb: VerbDefinition): CliCase[] {
  const cases = [usageCase(runBin, cli, 'an unknown option', [verb.name, '--no-such-option'], 'unknown option --no-such-option')]
  // No option is given, so a positional that one could stand in for is required too.
  const required = (verb.positionals ?? []).find((p) => p.required === true)
  if (required !== undefined) cases.push(usageCase(runBin, cli, 'a missing argument', [verb.name], `missing ${positionalLabel(required)}`))
  for (const [name, option] of Object.entries(verb.options ?? {})) {
    if (option.type !== 'integer') continue
    const value = option.min > Number.MIN_SAFE_INTEGER ? option.min - 1 : option.max + 1
    cases.push(usageCase(runBin, cli, 'an integer out of range', [verb.name, `--${name}`, String(value)], `--${name} ${value} is out of range`))
    break
  }
  return cases
}

async function runChild(bin: string, args: readonly string[]): Promise<Outcome> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: RUNAWAY_MS })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
  const [code] = (await once(child, 'close')) as [number | null]
  const result = { code, out: Buffer.concat(out).toString('utf8'), err: Buffer.concat(err).toString('utf8') }
  assert.doesNotMatch(result.out + result.err, STACK_FRAME, `a stack trace from ${args.join(' ')}`)
  assert.notEqual(code, null, `${args.join(' ')} was still running after ${RUNAWAY_MS} ms`)
  return result
}

/** A port nothing listens on: one the system gave out and that was closed again. */
async function freePort(): Promise<number> {
  const probe = net.createServer()
  probe.listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const { port } = probe.address() as net.AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}
