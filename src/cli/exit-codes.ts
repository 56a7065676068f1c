// The one place errors and outcomes become exit codes: 0 ok, 1 the job failed, 2 bad usage or
// input, 130 interrupted; a child we stand in for (ssh) gives its own status.
import { constants } from 'node:os';
import { CommanderError } from 'commander';
import { AbortedError, UsageError, VexfsImageError } from '../errors.js';

export const EXIT = Object.freeze({ OK: 0, FAILED: 1, USAGE: 2, INTERRUPTED: 130 });

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
    return EXIT.USAGE;
  }
  if (err instanceof UsageError) return EXIT.USAGE;
  if (err instanceof AbortedError) return EXIT.INTERRUPTED;
  return EXIT.FAILED;
}

/** The status of a child process we stand in for (`vexfs-image ssh`). */
export interface ChildStatus {
  exitCode: number | null;
  signal: string | null;
}

/**
 * What a command reports instead of an exit code: 'ok'/'passed' (ci's word), 'failed' (the job
 * ran and failed: a check, a variant), 'bad-input' (found by the job itself, e.g. ci's pre-build
 * checks), or a child's status.
 */
export type Outcome = 'ok' | 'passed' | 'failed' | 'bad-input' | ChildStatus;

export function exitCodeForOutcome(o: Outcome): number {
  if (typeof o === 'object') return childExitCode(o.exitCode, o.signal);
  return o === 'ok' || o === 'passed' ? EXIT.OK : o === 'bad-input' ? EXIT.USAGE : EXIT.FAILED;
}

/**
 * The status of a child we stand in for (`vexfs-image ssh` exits with ssh's, i.e. the remote
 * command's): its exit code, or 128 + the signal number, like a shell reports it.
 */
export function childExitCode(exitCode: number | null, signal: string | null): number {
  if (exitCode !== null) return exitCode;
  const n = signal ? constants.signals[signal as NodeJS.Signals] : undefined;
  return n ? 128 + n : EXIT.FAILED;
}

export function describeError(err: unknown, verbose = false): string {
  if (err instanceof CommanderError) return err.message.replace(/^error: /, '');
  // Bad input is reported on one line (the hint in brackets), so scripts can show it as is.
  if (err instanceof UsageError) return err.hint ? `${err.message} (${err.hint})` : err.message;
  if (err instanceof VexfsImageError) {
    const lines = [err.message];
    if (err.hint) lines.push(`hint: ${err.hint}`);
    if (verbose && err.cause instanceof Error) lines.push(`cause: ${err.cause.message}`);
    return lines.join('\n');
  }
  if (err instanceof Error) return verbose && err.stack ? err.stack : err.message;
  return String(err);
}
