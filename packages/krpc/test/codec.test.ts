import { describe, expect, it } from 'vitest'
import { decodeCall, encodeError, encodeJson } from '../src/codec.ts'
import { RpcCode } from '../src/constants.ts'
import { ErrorCode, KrpcUnserializableError } from '../src/errors.ts'

describe('encodeJson', () => {
  it.each([
    [null, 'null'],
    [undefined, 'null'],
    [true, 'true'],
    [false, 'false'],
    [0, '0'],
    [-1.5, '-1.5'],
    [1e21, '1e+21'],
    ['', '""'],
    [[], '[]'],
    [{}, '{}'],
    [[1, 'a', null], '[1, "a", null]'],
    [{ a: 1, b: [true, {}] }, '{"a": 1, "b": [true, {}]}'],
    [{ b: 1, a: 2 }, '{"b": 1, "a": 2}'],
    [[undefined], '[null]'],
    [{ a: undefined, b: 1 }, '{"b": 1}'],
    ['\u0000\b\t\n\u000b\f\r\u001f"\\/', '"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\\"\\\\/"'],
    ['\u007f\u0080\u00e9\u20ac', '"\\u007f\\u0080\\u00e9\\u20ac"'],
    ['😀', '"\\ud83d\\ude00"'],
    ['\ud800', '"\\ud800"'],
    [new Date(0), '"1970-01-01T00:00:00.000Z"'],
    [{ toJSON: () => ({ x: 'é' }) }, '{"x": "\\u00e9"}'],
    [Object.assign(Object.create(null) as object, { k: 1 }), '{"k": 1}'],
  ])('%j → %s', (value, text) => {
    expect(encodeJson(value)).toBe(text)
  })

  class Point {
    x = 1
  }

  it.each([
    ['bigint', 10n],
    ['function', () => 1],
    ['symbol', Symbol('s')],
    ['number', Number.NaN],
    ['number', Number.POSITIVE_INFINITY],
    ['Point', new Point()],
    ['Map', new Map()],
    ['Uint8Array', new Uint8Array(2)],
    ['Buffer', Buffer.from('x')],
    ['Blob', new Blob([])],
    ['bigint', { nested: [1, { deep: 2n }] }],
    ['function', { f() {} }],
    ['symbol', [Symbol('s')]],
  ])('%# refuses a %s with ERR_KRPC_UNSERIALIZABLE', (type, value) => {
    let caught: unknown
    try {
      encodeJson(value)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(KrpcUnserializableError)
    expect(caught).toMatchObject({ code: ErrorCode.UNSERIALIZABLE, rpcCode: -32003, message: `Object of type ${type} is not JSON serializable` })
  })

  it('refuses cycles, allows shared references', () => {
    const shared = { a: 1 }
    expect(encodeJson([shared, shared])).toBe('[{"a": 1}, {"a": 1}]')
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(() => encodeJson(cycle)).toThrow(expect.objectContaining({ code: ErrorCode.UNSERIALIZABLE, message: 'Circular reference detected' }))
  })
})

describe('decodeCall', () => {
  it('returns the members as they are', () => {
    expect(decodeCall('{"method": "a.b", "params": [1], "pmhparams": {"c": 1}, "id": 3}'))
      .toEqual({ method: 'a.b', params: [1], pmhparams: { c: 1 } })
    expect(decodeCall('{}')).toEqual({ method: undefined, params: undefined, pmhparams: undefined })
  })

  it.each(['{not json', '', 'NaN', '{"a": 1,}'])('%j → -32700 at status 200', (text) => {
    expect(() => decodeCall(text)).toThrow(expect.objectContaining({ code: ErrorCode.BAD_REQUEST, rpcCode: RpcCode.PARSE_ERROR, status: 200, info: '' }))
  })

  it.each(['[]', 'null', '1', '"x"', 'true'])('%s → -32600 at status 200', (text) => {
    expect(() => decodeCall(text)).toThrow(expect.objectContaining({
      code: ErrorCode.BAD_REQUEST, rpcCode: RpcCode.INVALID_REQUEST, status: 200, info: 'Call is not a JSON object.',
    }))
  })
})

describe('encodeError', () => {
  it('leaves out info unless it is truthy', () => {
    expect(encodeError(RpcCode.METHOD_NOT_FOUND)).toBe('{"error": {"code": -32601, "message": "Method not found."}}')
    expect(encodeError(RpcCode.METHOD_NOT_FOUND, '')).toBe('{"error": {"code": -32601, "message": "Method not found."}}')
    expect(encodeError(RpcCode.FILE_TOO_LARGE, 'fileSize')).toBe('{"error": {"code": -32005, "message": "File too large.", "info": "fileSize"}}')
  })

  it('has the message of every code', () => {
    expect(Object.values(RpcCode).map((code) => JSON.parse(encodeError(code)) as unknown)).toEqual([
      { error: { code: -32700, message: 'Parse error.' } },
      { error: { code: -32600, message: 'Invalid request.' } },
      { error: { code: -32601, message: 'Method not found.' } },
      { error: { code: -32000, message: 'Method call raised an exception.' } },
      { error: { code: -32001, message: 'Unhandled exception.' } },
      { error: { code: -32002, message: 'Missing file object.' } },
      { error: { code: -32003, message: 'Object is not JSON serializable.' } },
      { error: { code: -32004, message: 'Field too large.' } },
      { error: { code: -32005, message: 'File too large.' } },
      { error: { code: -32006, message: 'Too many parts.' } },
      { error: { code: -32007, message: 'Request timeout.' } },
    ])
  })
})
