// What every subcommand gets from main: the process-wide abort signal and the output streams.
import type { Command } from 'commander';

export interface CliContext {
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  /** Set by a command that wants a specific exit code without throwing (e.g. checks failed). */
  setExitCode(code: number): void;
}

export type RegisterCommand = (program: Command, ctx: CliContext) => void;
