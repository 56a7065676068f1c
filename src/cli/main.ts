#!/usr/bin/env node
// The bin: parse argv, dispatch, map errors to exit codes. The only place that exits.
import { CommanderError } from 'commander';
import { abortOnSignals } from '../pipeline/abort.js';
import { AbortedError } from '../errors.js';
import { buildProgram } from './program.js';
import { describeError, EXIT, exitCodeFor, exitCodeForOutcome, type Outcome } from './exit-codes.js';

// `vexfs-image --help | head` closes our stdout early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

async function main(argv: string[]): Promise<number> {
  // A second Ctrl-C while cleanup runs: the user means it, so exit at once.
  const abort = abortOnSignals(undefined, { onRepeat: () => process.exit(EXIT.INTERRUPTED) });
  let exitCode: number = EXIT.OK;
  const ctx = {
    signal: abort.controller.signal,
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    setOutcome: (o: Outcome) => {
      exitCode = Math.max(exitCode, exitCodeForOutcome(o));
    },
  };
  const verbose = argv.includes('--verbose') || argv.includes('-v') || process.env.VEXFS_IMAGE_DEBUG === '1';
  try {
    await buildProgram(ctx).parseAsync(argv, { from: 'node' });
    if (abort.signalName()) throw new AbortedError();
    return exitCode;
  } catch (err) {
    const code = abort.signalName() ? EXIT.INTERRUPTED : exitCodeFor(err);
    if (code !== EXIT.OK) {
      const usage = err instanceof CommanderError;
      const suffix = usage ? ' (see vexfs-image --help)' : '';
      process.stderr.write(`vexfs-image: ${usage ? '' : 'error: '}${describeError(err, verbose)}${suffix}\n`);
    }
    return code;
  } finally {
    abort.dispose();
  }
}

process.exitCode = await main(process.argv);
