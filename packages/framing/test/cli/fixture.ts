import { defineCli, defineVerb } from '../../src/cli/definition.ts'
import { CliUsageError } from '../../src/cli/errors.ts'
import { clientSocketOption, jsonOption, parseHostPort, targetPositional } from '../../src/cli/options.ts'
import { ERROR_DETAILS } from '../../src/cli/report.ts'
import { ClosedError, ProtoError } from '../../src/errors.ts'

/** Records what the last run received, so tests can look at the typed values. */
export const seen: { values?: unknown; args?: unknown } = {}

class RemoteError extends ProtoError {
  override name = 'RemoteError'
  override readonly code = 'ERR_TOY_REMOTE'
}

export const greet = defineVerb({
  name: 'greet',
  summary: 'greet someone',
  positionals: [{ name: 'who', description: 'whom to greet', required: true }],
  options: {
    times: { type: 'integer', min: 1, max: 5, default: 1, short: 't', description: 'how many greetings' },
    shout: { type: 'boolean', description: 'in capitals' },
    style: { type: 'enum', choices: ['plain', 'fancy'], default: 'plain', description: 'the wording' },
    tag: { type: 'list', placeholder: 'TAG', description: 'a tag to add' },
    from: { type: 'path', description: 'a file that signs it' },
    limit: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, description: 'a limit without a default' },
    json: jsonOption,
  },
  run: async ({ values, args, out }) => {
    seen.values = values
    seen.args = args
    // The types flow from the declaration: these lines would not compile otherwise.
    const times: number = values.times
    const style: 'plain' | 'fancy' = values.style
    const limit: number | undefined = values.limit
    const who: string = args.who
    const tags: string[] = values.tag
    const text = `${style === 'fancy' ? 'Greetings' : 'hello'} ${who}${tags.length > 0 ? ` [${tags.join(',')}]` : ''}${limit === undefined ? '' : ` <${limit}`}`
    for (let i = 0; i < times; i++) {
      if (values.json) await out.printJson({ text })
      else await out.print(values.shout ? text.toUpperCase() : text)
    }
  },
})

export const send = defineVerb({
  name: 'send',
  summary: 'send commands',
  positionals: [targetPositional('socket'), { name: 'commands', label: 'COMMAND', description: 'what to send', required: true, variadic: true }],
  options: { socket: clientSocketOption, json: jsonOption },
  run: async ({ values, args, out }) => {
    seen.values = values
    seen.args = args
    const commands: string[] = args.commands
    const target: string | undefined = args.target
    const where = target === undefined ? values.socket : `${parseHostPort(target).host}`
    await out.print(`${where ?? '?'}: ${commands.join(' | ')}`)
  },
})

/** An object that refers to itself, which has no JSON. */
function cycle(): unknown {
  const loop: Record<string, unknown> = {}
  loop['self'] = loop
  return loop
}

/** Throws what `--what` names, for the error format. */
export const fail = defineVerb({
  name: 'fail',
  summary: 'fail in a chosen way',
  options: {
    what: {
      type: 'enum',
      choices: ['proto', 'chain', 'plain', 'string', 'object', 'null-proto', 'remote', 'usage', 'aggregate', 'domexception', 'code-1', 'peer-text', 'getter', 'details'],
      default: 'proto',
      description: 'what to throw',
    },
    json: jsonOption,
  },
  run: ({ values }) => {
    switch (values.what) {
      case 'proto':
        throw new ClosedError('the line went dead')
      case 'chain':
        throw new ClosedError('cannot connect to 127.0.0.1:9', {
          cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', stack: 'Error: x\n    at here (file.js:1:2)' }),
        })
      case 'plain':
        throw new Error('plain failure')
      case 'string':
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point: a value that is not an Error
        throw 'a bare string'
      case 'object':
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point
        throw { reason: 'no message here' }
      case 'null-proto':
        throw Object.create(null)
      case 'remote':
        throw new RemoteError('the peer said no')
      case 'usage':
        throw new CliUsageError('bad target')
      case 'aggregate':
        throw Object.assign(new AggregateError([new Error('connect ECONNREFUSED ::1:9'), new Error('connect ECONNREFUSED 127.0.0.1:9')], ''), {
          code: 'ECONNREFUSED',
        })
      case 'domexception':
        throw new DOMException('The operation was aborted due to timeout', 'TimeoutError')
      case 'code-1':
        throw Object.assign(new Error('numeric code'), { code: 1 })
      case 'peer-text':
        throw new ProtoError('peer said \u001b]0;pwned\u0007\u001b[2J\nforged line')
      case 'details':
        // What a peer reported beyond its message, a cycle that has no JSON and a reserved name among it.
        throw Object.assign(new RemoteError('the peer said no', { cause: new Error('deeper') }), {
          [ERROR_DETAILS]: { rpcCode: -32_000, data: 'Error: \u001b[2Jfail', code: 'not this', loop: cycle() },
        })
      case 'getter':
        throw Object.defineProperty(new Error('x'), 'message', {
          get() {
            throw new Error('gotcha')
          },
        })
    }
  },
})

export const toy = defineCli({ name: 'toy', summary: 'a command line for tests', version: '1.2.3', verbs: [greet, send, fail] })
