import { Writable } from 'node:stream'
import type { CliIO } from '../../src/cli/run.ts'
import { runCli } from '../../src/cli/run.ts'
import type { CliDefinition } from '../../src/cli/definition.ts'

/** A Writable that keeps what is written, as text. */
export class Sink extends Writable {
  readonly chunks: Buffer[] = []

  constructor(highWaterMark = 16_384) {
    super({ highWaterMark })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk)
    this.emit('written')
    callback()
  }

  /** The first line written, once it is complete. */
  firstLine(): Promise<string> {
    return new Promise((resolve) => {
      const check = (): void => {
        const text = this.text
        if (!text.includes('\n')) return
        this.off('written', check)
        resolve(text.slice(0, text.indexOf('\n')))
      }
      this.on('written', check)
      check()
    })
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8')
  }
}

export interface Captured {
  io: CliIO
  stdout: Sink
  stderr: Sink
}

export function capture(extra: Partial<CliIO> = {}): Captured {
  const stdout = new Sink()
  const stderr = new Sink()
  return { io: { stdout, stderr, ...extra }, stdout, stderr }
}

/** Runs `cli` in process: its exit code and what it printed. */
export async function run(cli: CliDefinition, argv: readonly string[], extra: Partial<CliIO> = {}): Promise<{ code: number; out: string; err: string }> {
  const c = capture(extra)
  const code = await runCli(cli, argv, c.io)
  return { code, out: c.stdout.text, err: c.stderr.text }
}

/** A stack frame as Node prints one. */
export const STACK_FRAME = /^\s+at .+(?::\d+:\d+\)?|\(native\))$/m
