// What every subcommand gets from main: the process-wide abort signal and the output streams.
import type { Command } from 'commander';
import type { Outcome } from './exit-codes.js';

export interface CliContext {
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  /** A command's result when it did not throw (checks failed, ssh's status): main makes it the exit code. */
  setOutcome(outcome: Outcome): void;
}

export type RegisterCommand = (program: Command, ctx: CliContext) => void;
