// Error classes with stable codes. The CLI maps them to exit codes in one place (cli/exit-codes.ts).

export interface ErrorOptions {
  cause?: unknown;
  /** What the user can do about it, e.g. "install cloud-image-utils". */
  hint?: string;
}

export class VexfsImageError extends Error {
  /** Stable, machine-readable identifier (also printed with --json). */
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }
}

/** Bad flags, bad config, bad input: exit 2. */
export class UsageError extends VexfsImageError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('E_USAGE', message, options);
  }
}

/** A required host tool or precondition is missing. */
export class PreconditionError extends VexfsImageError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('E_PRECONDITION', message, options);
  }
}

/** A child process exited non-zero (or was killed by a signal). */
export class CommandError extends VexfsImageError {
  readonly command: readonly string[];
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stderrTail: string;

  constructor(
    command: readonly string[],
    exitCode: number | null,
    signal: string | null,
    stderrTail: string,
    options: ErrorOptions = {},
  ) {
    const how = signal ? `was killed by ${signal}` : exitCode === null ? 'could not be started' : `exited with code ${exitCode}`;
    const tail = stderrTail.trim() ? `\n${indent(stderrTail.trim())}` : '';
    super('E_COMMAND', `${command.join(' ')} ${how}${tail}`, options);
    this.command = command;
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderrTail = stderrTail;
  }
}

/** Something did not happen within its deadline. */
export class TimeoutError extends VexfsImageError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('E_TIMEOUT', message, options);
  }
}

/** The run was interrupted (SIGINT/SIGTERM or an aborted signal): exit 130. */
export class AbortedError extends VexfsImageError {
  constructor(message = 'interrupted', options: ErrorOptions = {}) {
    super('E_ABORTED', message, options);
  }
}

/** A guest-side step failed (build in VM, check, boot trouble). */
export class GuestError extends VexfsImageError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('E_GUEST', message, options);
  }
}

export function indent(text: string, prefix = '    '): string {
  return text
    .split('\n')
    .map((l) => prefix + l)
    .join('\n');
}

/** Throws AbortedError when the signal is aborted. Call at the top of every waiting loop. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('interrupted', { cause: signal.reason });
}

export function isAbort(err: unknown): boolean {
  return err instanceof AbortedError || (err instanceof Error && err.name === 'AbortError');
}
