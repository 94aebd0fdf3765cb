import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { defineCli } from '../../src/cli/definition.ts'
import { cliHelp } from '../../src/cli/help.ts'
import { seen, toy } from './fixture.ts'
import { run, STACK_FRAME } from './helpers.ts'

// What parseArgs says in its own words; none of it may reach a user.
const PARSE_ARGS_WORDING = /ERR_PARSE_ARGS|ambiguous|Unknown option '|To specify a positional argument|Unexpected argument '/

describe('runCli: dispatch, help and version', () => {
  it('prints the version and exits 0', async () => {
    expect(await run(toy, ['--version'])).toEqual({ code: 0, out: '1.2.3\n', err: '' })
  })

  it('reads the version from a package.json when given its URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'framing-cli-'))
    try {
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'x', version: '4.5.6' }))
      const cli = defineCli({ ...toy, version: pathToFileURL(join(dir, 'package.json')) })
      expect(await run(cli, ['--version'])).toEqual({ code: 0, out: '4.5.6\n', err: '' })
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'x' }))
      const broken = await run(cli, ['--version'])
      expect(broken.code).toBe(2)
      expect(broken.err).toMatch(/^toy: .*package\.json has no version \(ERR_PROTO_CLI_READ\)\n$/)
      await rm(join(dir, 'package.json'))
      const missing = await run(cli, ['--version'])
      expect(missing.code).toBe(2)
      expect(missing.err).toMatch(/^toy: cannot read the version from .*package\.json \(ERR_PROTO_CLI_READ\)\n {2}cause: .* \(ENOENT\)\n$/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it.each([['--help'], ['-h']])('%s prints every verb, argument and option, with ranges and defaults', async (flag) => {
    const result = await run(toy, [flag])
    expect(result).toEqual({ code: 0, out: cliHelp(toy), err: '' })
    for (const text of [
      'Usage: toy greet WHO [options]\n\nGreet someone.\n',
      '  greet  greet someone\n',
      'Usage: toy send (HOST:PORT | --socket PATH) COMMAND... [options]',
      '-t, --times N',
      'how many greetings (1 to 5, default: 1)',
      '--style plain|fancy',
      'the wording (one of plain, fancy, default: plain)',
      '--tag TAG',
      'a tag to add (repeatable)',
      '--from PATH',
      'a limit without a default (0 or more)',
      '--what',
      'Exit codes: 0 success, 1 the peer reported an error, 2',
    ]) {
      expect(result.out).toContain(text)
    }
  })

  it.each([
    [['greet', '--help']],
    [['greet', '-h', '--bogus']],
    [['greet', 'x', '--times', '99', '--help']],
    [['send', '-h']],
  ])('%j prints the help of the verb alone and exits 0', async (argv) => {
    const result = await run(toy, argv)
    expect(result.code).toBe(0)
    expect(result.err).toBe('')
    expect(result.out).toMatch(new RegExp(`^Usage: toy ${argv[0]} `))
    expect(result.out).not.toContain(argv[0] === 'greet' ? 'Usage: toy send' : 'Usage: toy greet')
  })

  it('runs a verb with typed values and defaults', async () => {
    expect(await run(toy, ['greet', 'world'])).toEqual({ code: 0, out: 'hello world\n', err: '' })
    expect(seen.values).toEqual({ times: 1, shout: false, style: 'plain', tag: [], from: undefined, limit: undefined, json: false })
    expect(await run(toy, ['greet', '-t', '2', '--shout', '--style=fancy', '--tag', 'a', '--tag=b', '--limit', '0', 'you'])).toEqual({
      code: 0,
      out: 'GREETINGS YOU [A,B] <0\nGREETINGS YOU [A,B] <0\n',
      err: '',
    })
    expect(await run(toy, ['greet', '--', '--not-an-option'])).toMatchObject({ code: 0, out: 'hello --not-an-option\n' })
  })

  it('takes a variadic positional, and lets an option stand in for a positional', async () => {
    expect(await run(toy, ['send', '[::1]:80', 'a', 'b c'])).toEqual({ code: 0, out: '::1: a | b c\n', err: '' })
    expect(seen.args).toEqual({ target: '[::1]:80', commands: ['a', 'b c'] })
    expect(await run(toy, ['send', '--socket', '/tmp/s', 'a'])).toEqual({ code: 0, out: '/tmp/s: a\n', err: '' })
    expect(seen.args).toEqual({ target: undefined, commands: ['a'] })
  })
})

describe('runCli: usage mistakes', () => {
  it.each([
    [[], 'missing command: one of greet, send, fail'],
    [['gret'], 'unknown command gret, did you mean greet?'],
    [['zzzzzz'], 'unknown command zzzzzz'],
    [['--json'], 'unknown option --json before the command'],
    [['greet'], 'missing WHO'],
    [['greet', 'a', 'b'], 'unexpected argument b'],
    [['greet', 'a', '--tims', '2'], 'unknown option --tims, did you mean --times?'],
    [['greet', 'a', '--bogus'], 'unknown option --bogus'],
    [['greet', 'a', '-x'], 'unknown option -x'],
    [['greet', 'a', '--times'], '--times needs a value (N)'],
    [['greet', 'a', '--times', '--shout'], '--times needs a value (N)'],
    [['greet', 'a', '--times', '-1'], '--times -1 is out of range (1 to 5)'],
    [['greet', 'a', '--times=0'], '--times 0 is out of range (1 to 5)'],
    [['greet', 'a', '--times', '99999999999999999999'], '--times 99999999999999999999 is out of range (1 to 5)'],
    [['greet', 'a', '--times', 'two'], '--times two is not an integer (1 to 5)'],
    [['greet', 'a', '--times', ''], '--times "" is not an integer (1 to 5)'],
    [['greet', 'a', '--times', '1.5'], '--times 1.5 is not an integer (1 to 5)'],
    [['greet', 'a', '--limit', '-1'], '--limit -1 is out of range (0 or more)'],
    [['greet', 'a', '--style', 'fanci'], '--style fanci is not one of plain, fancy, did you mean fancy?'],
    [['greet', 'a', '--shout=yes'], '--shout takes no value'],
    [['greet', 'a', '--from', ''], '--from needs a path, got an empty one'],
    [['send'], 'missing HOST:PORT'],
    [['send', 'localhost'], 'missing COMMAND'],
    [['send', 'localhost', 'ping'], 'HOST:PORT expected, got localhost'],
    [['send', '127.0.0.1:0', 'ping'], 'the port of 127.0.0.1:0 is out of range (1 to 65535)'],
    [['send', '127.0.0.1:70000', 'ping'], 'the port of 127.0.0.1:70000 is out of range (1 to 65535)'],
  ])('%j: "%s", the usage on stderr, exit 2', async (argv, message) => {
    const result = await run(toy, argv)
    expect(result.code).toBe(2)
    expect(result.out).toBe('')
    const [first, blank, usage] = result.err.split('\n')
    expect(first).toBe(`toy: ${message} (ERR_PROTO_CLI_USAGE)`)
    expect(blank).toBe('')
    expect(usage).toMatch(argv[0] === undefined || !['greet', 'send'].includes(argv[0]) ? /^toy: a command line for tests$/ : /^Usage: toy /)
    expect(result.err).not.toMatch(PARSE_ARGS_WORDING)
  })

  it('also prints a usage mistake as JSON on stdout when --json was given', async () => {
    const result = await run(toy, ['greet', 'a', '--json', '--times', '9'])
    expect(result.code).toBe(2)
    expect(result.out).toBe('{"error":{"code":"ERR_PROTO_CLI_USAGE","message":"--times 9 is out of range (1 to 5)"}}\n')
  })

  it('escapes a control character that came in an argument', async () => {
    const result = await run(toy, ['gr\u001b[2Jeet'])
    expect(result.err.split('\n')[0]).toBe('toy: unknown command gr\\x1b[2Jeet (ERR_PROTO_CLI_USAGE)')
  })

  it('treats a CliUsageError thrown by the verb as a usage mistake', async () => {
    const result = await run(toy, ['fail', '--what', 'usage'])
    expect(result.code).toBe(2)
    expect(result.err).toMatch(/^toy: bad target \(ERR_PROTO_CLI_USAGE\)\n\nUsage: toy fail \[options\]\n/)
  })
})

describe('runCli: the one error format', () => {
  it.each([
    ['proto', 2, ['toy: the line went dead (ERR_PROTO_CLOSED)']],
    ['chain', 2, ['toy: cannot connect to 127.0.0.1:9 (ERR_PROTO_CLOSED)', '  cause: connect ECONNREFUSED 127.0.0.1:9 (ECONNREFUSED)']],
    ['plain', 2, ['toy: plain failure (Error)']],
    ['string', 2, ['toy: a bare string (ERR_UNKNOWN)']],
    ['object', 2, ['toy: [object Object] (ERR_UNKNOWN)']],
    ['null-proto', 2, ['toy: [object Object] (ERR_UNKNOWN)']],
    ['remote', 1, ['toy: the peer said no (ERR_TOY_REMOTE)']],
    ['aggregate', 2, ['toy: connect ECONNREFUSED ::1:9; connect ECONNREFUSED 127.0.0.1:9 (ECONNREFUSED)']],
    ['domexception', 2, ['toy: The operation was aborted due to timeout (TimeoutError)']],
    ['code-1', 2, ['toy: numeric code (Error)']],
    ['peer-text', 2, ['toy: peer said \\x1b]0;pwned\\x07\\x1b[2J\\nforged line (ERR_PROTO)']],
    ['getter', 2, ['toy: an error that cannot be read (Error)']],
    ['details', 1, ['toy: the peer said no (ERR_TOY_REMOTE)', '  rpcCode: -32000', '  data: "Error: \\\\u001b[2Jfail"', '  cause: deeper (Error)']],
  ])('%s: exit %i and exactly these stderr lines, no stack trace', async (what, code, lines) => {
    const result = await run(toy, ['fail', '--what', what])
    expect(result.code).toBe(code)
    expect(result.out).toBe('')
    expect(result.err).toBe(lines.map((line) => `${line}\n`).join(''))
    expect(result.err).not.toMatch(STACK_FRAME)
  })

  it('with --json also prints the error, its causes nested, as one line of JSON on stdout', async () => {
    const result = await run(toy, ['fail', '--what', 'chain', '--json'])
    expect(result.code).toBe(2)
    expect(result.out.endsWith('\n')).toBe(true)
    expect(result.out.split('\n')).toHaveLength(2)
    expect(JSON.parse(result.out)).toEqual({
      error: {
        code: 'ERR_PROTO_CLOSED',
        message: 'cannot connect to 127.0.0.1:9',
        cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9' },
      },
    })
    expect(result.err).toContain('cause: connect ECONNREFUSED')
  })

  it('with --json adds an error\'s details beside its code and message', async () => {
    const result = await run(toy, ['fail', '--what', 'details', '--json'])
    expect(result.code).toBe(1)
    expect(JSON.parse(result.out)).toEqual({
      error: { code: 'ERR_TOY_REMOTE', message: 'the peer said no', rpcCode: -32_000, data: 'Error: \u001b[2Jfail', cause: { code: 'Error', message: 'deeper' } },
    })
  })

  it('keeps peer text in --json output exact, and terminal-safe', async () => {
    const result = await run(toy, ['fail', '--what', 'peer-text', '--json'])
    // The one LF allowed ends the line.
    expect(result.out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/)
    expect(JSON.parse(result.out)).toEqual({ error: { code: 'ERR_PROTO', message: 'peer said \u001b]0;pwned\u0007\u001b[2J\nforged line' } })
  })
})
