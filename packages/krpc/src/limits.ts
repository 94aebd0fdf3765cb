// The server's limits: their defaults, their checks, and the node:http settings they make.
import type { ServerOptions as HttpServerOptions } from 'node:http'
import { checkLimit, UsageError } from '@proto/framing'
import type { OptionNames } from '@proto/framing'
import {
  DEFAULT_BODY_TIMEOUT,
  DEFAULT_FIELD_NAME_SIZE,
  DEFAULT_FIELD_SIZE,
  DEFAULT_FIELDS,
  DEFAULT_FILE_SIZE,
  DEFAULT_FILES,
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HEADER_SIZE,
  DEFAULT_PARTS,
  DEFAULT_REQUEST_TIMEOUT,
} from './constants.ts'
import type { KrpcLimits, ResolvedLimits } from './types.ts'

/** Every name of `KrpcLimits`, for `checkOptions`. */
export const LIMIT_NAMES = {
  fieldSize: true,
  fieldNameSize: true,
  fileSize: true,
  files: true,
  fields: true,
  parts: true,
  bodyTimeout: true,
  headersTimeout: true,
  requestTimeout: true,
  maxHeaderSize: true,
  maxConnections: true,
  idleTimeout: true,
} as const satisfies OptionNames<KrpcLimits>

// Node adds up to a second to keepAliveTimeout before it sets a socket timer, which takes no more than 2^31 - 1 ms.
const MAX_IDLE_TIMEOUT = 2_147_482_647

/** The limits with their defaults, each checked to be a finite positive integer. */
export function resolveLimits(limits: KrpcLimits = {}): ResolvedLimits {
  const resolved: ResolvedLimits = {
    fieldSize: checkLimit('fieldSize', limits.fieldSize, DEFAULT_FIELD_SIZE),
    fieldNameSize: checkLimit('fieldNameSize', limits.fieldNameSize, DEFAULT_FIELD_NAME_SIZE),
    fileSize: checkLimit('fileSize', limits.fileSize, DEFAULT_FILE_SIZE),
    files: checkLimit('files', limits.files, DEFAULT_FILES),
    fields: checkLimit('fields', limits.fields, DEFAULT_FIELDS),
    parts: checkLimit('parts', limits.parts, DEFAULT_PARTS),
    bodyTimeout: checkLimit('bodyTimeout', limits.bodyTimeout, DEFAULT_BODY_TIMEOUT),
    headersTimeout: checkLimit('headersTimeout', limits.headersTimeout, DEFAULT_HEADERS_TIMEOUT),
    requestTimeout: checkLimit('requestTimeout', limits.requestTimeout, DEFAULT_REQUEST_TIMEOUT),
    maxHeaderSize: checkLimit('maxHeaderSize', limits.maxHeaderSize, DEFAULT_MAX_HEADER_SIZE),
    maxConnections: checkLimit('maxConnections', limits.maxConnections, DEFAULT_MAX_CONNECTIONS),
    idleTimeout: checkLimit('idleTimeout', limits.idleTimeout, DEFAULT_IDLE_TIMEOUT, 0),
  }
  if (resolved.idleTimeout > MAX_IDLE_TIMEOUT) throw new UsageError(`idleTimeout must be at most ${MAX_IDLE_TIMEOUT} ms`)
  if (resolved.headersTimeout > resolved.requestTimeout) {
    throw new UsageError('headersTimeout must not be longer than requestTimeout')
  }
  return resolved
}

/** How `listen()` configures the `node:http` server that reads its connections. */
export function httpServerOptions(limits: ResolvedLimits): HttpServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    // Node checks both timeouts on this interval (30 s by default), which would let a short
    // headersTimeout run long.
    connectionsCheckingInterval: Math.min(30_000, Math.max(1, Math.ceil(limits.headersTimeout / 4))),
    keepAliveTimeout: limits.idleTimeout,
  }
}

