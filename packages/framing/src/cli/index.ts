// The `@proto/framing/cli` entry (Node only): the command-line core every @proto bin is built on.
export type { CaptureLine, CaptureLinesInit } from './capture-lines.ts'
export { CaptureLines } from './capture-lines.ts'
export type { CaptureDecoder, CaptureDirection, CaptureFault, CaptureFrame, CaptureRecord, DecodeSummary, DecodeVerbOptions } from './decode.ts'
export { decodeCapture, decodeVerb } from './decode.ts'
export type {
  BooleanOptionDefinition,
  CliDefinition,
  EnumOptionDefinition,
  IntegerOptionDefinition,
  ListOptionDefinition,
  OptionDefinition,
  OptionsDefinition,
  OptionValue,
  OptionValues,
  PathOptionDefinition,
  PositionalDefinition,
  PositionalValue,
  PositionalValues,
  StringOptionDefinition,
  VerbContext,
  VerbDefinition,
} from './definition.ts'
export { defineCli, defineVerb } from './definition.ts'
export { CliErrorCode, CliInterruptedError, CliListenError, CliOutputError, CliReadError, CliUsageError } from './errors.ts'
export { EXIT_CODES, cliHelp, verbHelp } from './help.ts'
export type { ClientOptionDefaults, ServeOptionDefaults } from './options.ts'
export {
  DEFAULT_CLI_HOST,
  caOption,
  clientOptions,
  clientSocketOption,
  clientTls,
  connectTarget,
  connectTimeoutOption,
  hostOption,
  idleTimeoutOption,
  jsonOption,
  listenTarget,
  maxConnectionsOption,
  parseHostPort,
  portOption,
  proxyProtocolOption,
  readArgumentFile,
  serveOptions,
  serveSocketOption,
  serverTls,
  targetPositional,
  timeoutOption,
  tlsCertOption,
  tlsKeyOption,
  tlsOption,
} from './options.ts'
export { CliOutput, jsonLine } from './output.ts'
export type { FileSummary, PayloadJson } from './payload.ts'
export { FileDigest, payloadJson } from './payload.ts'
export type { ErrorJson } from './report.ts'
export { ERROR_DETAILS, REMOTE_ERROR, describeError, errorCode, errorJson, errorMessage, exitCodeOf, isRemoteError } from './report.ts'
export type { CliIO } from './run.ts'
export { runCli, runIfMain } from './run.ts'
export type { CliServer, CliServerEvents, ServeUntilStoppedOptions } from './serve.ts'
export { DEFAULT_CLOSE_GRACE, serveUntilStopped } from './serve.ts'
