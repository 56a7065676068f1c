import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommanderError } from 'commander';
import { describeError, EXIT, exitCodeFor } from '../../../src/cli/exit-codes.js';
import { AbortedError, CommandError, GuestError, PreconditionError, TimeoutError, UsageError } from '../../../src/errors.js';

test('exit codes: 0 ok, 1 job failed, 2 bad usage or input, 130 interrupted', () => {
  assert.deepEqual(EXIT, { OK: 0, FAILED: 1, USAGE: 2, INTERRUPTED: 130 });
  assert.equal(exitCodeFor(new UsageError('bad')), 2);
  assert.equal(exitCodeFor(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'")), 2);
  assert.equal(exitCodeFor(new CommanderError(1, 'commander.invalidArgument', 'error: bad')), 2);
  assert.equal(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)')), 0);
  assert.equal(exitCodeFor(new CommanderError(0, 'commander.version', '0.1.0')), 0);
  assert.equal(exitCodeFor(new AbortedError()), 130);
  for (const e of [new CommandError(['x'], 1, null, ''), new TimeoutError('t'), new GuestError('g'), new PreconditionError('p'), new Error('plain'), 'a string']) {
    assert.equal(exitCodeFor(e), 1, String(e));
  }
});

test('describeError: usage errors on one line with their hint; others with the hint on its own line', () => {
  assert.equal(describeError(new UsageError('unknown variant "x"', { hint: 'define it under "variants:"' })), 'unknown variant "x" (define it under "variants:")');
  assert.equal(describeError(new PreconditionError('missing host tools: qemu-img', { hint: 'apt-get install -y qemu-utils' })), 'missing host tools: qemu-img\nhint: apt-get install -y qemu-utils');
  assert.equal(describeError(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--bogus'")), "unknown option '--bogus'");
  const withCause = new GuestError('build failed', { cause: new Error('root cause') });
  assert.equal(describeError(withCause), 'build failed');
  assert.equal(describeError(withCause, true), 'build failed\ncause: root cause');
  assert.equal(describeError(42), '42');
});

test('error classes: stable name and code, cause kept', () => {
  const cause = new Error('inner');
  const e = new TimeoutError('slow', { cause });
  assert.equal(e.name, 'TimeoutError');
  assert.equal(e.code, 'E_TIMEOUT');
  assert.equal(e.cause, cause);
  const c = new CommandError(['qemu-img', 'convert'], null, 'SIGKILL', 'tail');
  assert.match(c.message, /^qemu-img convert was killed by SIGKILL\n {4}tail$/);
});
