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

test('outcomes become exit codes here and only here: ok/passed 0, failed 1, bad-input 2, a child its own status', async () => {
  const { exitCodeForOutcome } = await import('../../../src/cli/exit-codes.js');
  assert.equal(exitCodeForOutcome('ok'), 0);
  assert.equal(exitCodeForOutcome('passed'), 0);
  assert.equal(exitCodeForOutcome('failed'), 1);
  assert.equal(exitCodeForOutcome('bad-input'), 2);
  assert.equal(exitCodeForOutcome({ exitCode: 3, signal: null }), 3);
  assert.equal(exitCodeForOutcome({ exitCode: null, signal: 'SIGKILL' }), 137);
});

test('only src/cli/main.ts ends the process; library results carry no exit codes', async () => {
  const { readdirSync, readFileSync, statSync } = await import('node:fs');
  const { join, relative } = await import('node:path');
  const { PACKAGE_ROOT } = await import('../../../src/paths.js');
  const src = join(PACKAGE_ROOT, 'src');
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) files.push(p);
    }
  };
  walk(src);
  const exiting = files.filter((f) => /\bprocess\.exit\(/.test(readFileSync(f, 'utf8'))).map((f) => relative(src, f));
  assert.deepEqual(exiting, ['cli/main.ts']);
  // (api.ssh's result is the remote command's status, as ssh reports it: data, not our exit code.)
  for (const f of ['validate/index.ts', 'ci/merge.ts', 'ci/orchestrator.ts']) {
    assert.doesNotMatch(readFileSync(join(src, f), 'utf8'), /\bexitCode\s*[:?]/, `${f} returns an exit code`);
  }
});
