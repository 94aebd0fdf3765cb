// Loaded by browsers through the `browser` build of `./client`: no `node:` modules and no Buffer.
import { RPC_MESSAGES, RpcCode } from './constants.ts'
import { KrpcBadRequestError, KrpcUnserializableError } from './errors.ts'

// Python's json.dumps escapes every UTF-16 unit from 0x7F up; JSON.stringify has already
// escaped quotes, backslashes, control characters and lone surrogates the same way Python does.
const NON_ASCII = /[\u007f-\uffff]/g
const HAS_NON_ASCII = /[\u007f-\uffff]/

function escapeUnit(unit: string): string {
  return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`
}

function quote(text: string): string {
  const json = JSON.stringify(text)
  return HAS_NON_ASCII.test(json) ? json.replace(NON_ASCII, escapeUnit) : json
}

function typeName(value: unknown): string {
  if (typeof value !== 'object' || value === null) return typeof value
  const ctor: unknown = (value as { constructor?: unknown }).constructor
  return typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'object'
}

function unserializable(value: unknown): KrpcUnserializableError {
  return new KrpcUnserializableError(`Object of type ${typeName(value)} is not JSON serializable`)
}

/** `value` after `toJSON`, as JSON.stringify sees it; binary data is refused even with `toJSON`. */
function resolve(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (ArrayBuffer.isView(value)) throw unserializable(value)
  const toJSON: unknown = (value as { toJSON?: unknown }).toJSON
  return typeof toJSON === 'function' ? (toJSON as (key: string) => unknown).call(value, key) : value
}

/** `open` holds the containers being written, to find cycles; made at the first container. */
function write(value: unknown, open: Set<object> | undefined): string {
  switch (typeof value) {
    case 'string':
      return quote(value)
    case 'number':
      if (!Number.isFinite(value)) throw unserializable(value)
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'undefined':
      return 'null'
    case 'bigint':
    case 'function':
    case 'symbol':
      throw unserializable(value)
    case 'object':
      break
  }
  if (value === null) return 'null'
  const seen = open ?? new Set<object>()
  if (seen.has(value)) throw new KrpcUnserializableError('Circular reference detected')
  let out: string
  seen.add(value)
  if (Array.isArray(value)) {
    out = '['
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ', '
      out += write(resolve(value[i], String(i)), seen)
    }
    out += ']'
  } else {
    const proto: unknown = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) throw unserializable(value)
    out = '{'
    let first = true
    for (const key of Object.keys(value)) {
      const item = resolve((value as Record<string, unknown>)[key], key)
      // JSON.stringify leaves out members whose value is undefined; so does this.
      if (item === undefined) continue
      out += first ? '' : ', '
      first = false
      out += `${quote(key)}: ${write(item, seen)}`
    }
    out += '}'
  }
  seen.delete(value)
  return out
}

/**
 * JSON text as Python's `json.dumps` writes it by default: `", "` and `": "` separators, key
 * order kept, every UTF-16 unit from 0x7F up as a lowercase `\uXXXX` escape. `undefined` is
 * `null`. Only plain data and `toJSON` holders are accepted.
 * @throws {KrpcUnserializableError} for a bigint, function, symbol, non-finite number, cycle,
 * binary data or class instance anywhere in `value`
 */
export function encodeJson(value: unknown): string {
  return write(resolve(value, ''), undefined)
}

/** The members of a call; `undefined` where the call text leaves one out. */
export interface DecodedCall {
  method: unknown
  params: unknown
  pmhparams: unknown
}

/**
 * Parses call text and checks that it is a JSON object. The members are returned as they are:
 * what the method name and params must be is the server's business.
 * @throws {KrpcBadRequestError} with `rpcCode` -32700 when the text is not JSON, -32600 when it is
 * not an object (`status` 200 in both cases)
 */
export function decodeCall(text: string): DecodedCall {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new KrpcBadRequestError('', 200, RpcCode.PARSE_ERROR, { cause: err })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KrpcBadRequestError('Call is not a JSON object.', 200)
  }
  const call = value as Record<string, unknown>
  return { method: call.method, params: call.params, pmhparams: call.pmhparams }
}

/** The body of an error reply; `info` is left out unless it is truthy, as the original does. */
export function encodeError(rpcCode: RpcCode, info?: unknown): string {
  const error: Record<string, unknown> = { code: rpcCode, message: RPC_MESSAGES[rpcCode] }
  if (info) error.info = info
  return encodeJson({ error })
}
