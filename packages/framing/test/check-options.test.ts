import { describe, expect, it } from 'vitest'
import { checkOptions } from '../src/check-options.ts'
import type { OptionNames } from '../src/check-options.ts'
import { UsageError } from '../src/errors.ts'

interface Limits {
  maxConnections?: number
  idleTimeout?: number
}

interface ServerOptions {
  host?: string | undefined
  port?: number
  timeout?: number
  limits?: Limits
  tls?: { key?: string } | undefined
}

const LIMITS = { maxConnections: true, idleTimeout: true } as const satisfies OptionNames<Limits>
const SERVER = { host: true, port: true, timeout: true, limits: LIMITS, tls: true } as const satisfies OptionNames<ServerOptions>

// @ts-expect-error the type checker refuses a list that misses a name
const missing = { host: true, port: true, timeout: true, limits: true } as const satisfies OptionNames<ServerOptions>
// @ts-expect-error and one with a name the options do not have
const extra = { ...SERVER, prot: true } as const satisfies OptionNames<ServerOptions>

function refusal(options: unknown, known: Parameters<typeof checkOptions>[1] = SERVER): string {
  try {
    checkOptions(options, known, 'createServer()')
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError)
    expect(err).toMatchObject({ code: 'ERR_PROTO_USAGE' })
    return (err as Error).message
  }
  return expect.unreachable('the options passed')
}

describe('checkOptions', () => {
  it('passes known names, undefined values and no options at all', () => {
    checkOptions(undefined, SERVER, 'createServer()')
    checkOptions({}, SERVER, 'createServer()')
    checkOptions({ host: '::1', port: 0, timeout: undefined, limits: { maxConnections: 1 } }, SERVER, 'createServer()')
    checkOptions({ limits: undefined }, SERVER, 'createServer()')
  })

  it('names the closest valid option of a misspelt one', () => {
    expect(refusal({ timout: 5 })).toBe("unknown option 'timout' for createServer() (did you mean 'timeout'?)")
    expect(refusal({ tiemout: 5 })).toBe("unknown option 'tiemout' for createServer() (did you mean 'timeout'?)")
    expect(refusal({ Port: 1 })).toBe("unknown option 'Port' for createServer() (did you mean 'port'?)")
    expect(refusal({ hots: 'x' })).toBe("unknown option 'hots' for createServer() (did you mean 'host'?)")
  })

  it('names the nested object a top-level name belongs in', () => {
    expect(refusal({ maxConnections: 5 })).toBe("unknown option 'maxConnections' for createServer() (did you mean 'limits.maxConnections'?)")
  })

  it('refuses an unknown name even when its value is undefined', () => {
    expect(refusal({ timout: undefined })).toMatch(/^unknown option 'timout'/)
  })

  it('guesses nothing for a name far from every valid one', () => {
    expect(refusal({ routes: {} })).toBe("unknown option 'routes' for createServer()")
    expect(refusal({ x: 1 }, ['host'])).toBe("unknown option 'x' for createServer()")
  })

  it('checks nested options under their dotted names, and leaves options marked true alone', () => {
    expect(refusal({ limits: { maxconnections: 1 } })).toBe(
      "unknown option 'limits.maxconnections' for createServer() (did you mean 'limits.maxConnections'?)",
    )
    checkOptions({ tls: { key: 'k', anything: 'node:tls takes' } }, SERVER, 'createServer()')
  })

  it('takes a plain list of names too', () => {
    checkOptions({ host: 'h' }, ['host', 'port'], 'listen()')
    expect(refusal({ prot: 1 }, ['host', 'port'])).toBe("unknown option 'prot' for createServer() (did you mean 'port'?)")
  })

  it('refuses options, or nested options, that are not an object', () => {
    expect(refusal(5)).toBe('the options of createServer() must be an object')
    expect(refusal(null)).toBe('the options of createServer() must be an object')
    expect(refusal([])).toBe('the options of createServer() must be an object')
    expect(refusal({ limits: 5 })).toBe("option 'limits' of createServer() must be an object")
  })

  it('looks only at own string keys', () => {
    checkOptions(Object.create({ inherited: 1 }) as object, SERVER, 'createServer()')
    checkOptions({ [Symbol('mark')]: 1 }, SERVER, 'createServer()')
  })

  it('keeps type-checked name lists usable at run time', () => {
    expect(Object.keys(missing)).toHaveLength(4)
    expect(Object.keys(extra)).toContain('prot')
  })
})
