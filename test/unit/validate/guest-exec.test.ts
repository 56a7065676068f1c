// The guest-side batch runner (guest/checks/runner.sh) is plain bash: run it here for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../../../src/tools/exec.js';
import { batchCommand, batchScript, parseBatchOutput } from '../../../src/validate/guest-exec.js';
import type { BatchItem } from '../../../src/validate/engine.js';

async function runBatch(items: BatchItem[]) {
  const r = await run('bash', ['-s'], { input: batchScript(items), allowFailure: true, timeoutMs: 60_000, env: { SUDO_UID: undefined } });
  const parsed = parseBatchOutput(r.stdout, items.length);
  // Items that ran (a result line), for the tests that do not exercise skipping.
  const outputs = parsed.map((o) => (o && !('skippedFor' in o) ? o : undefined));
  return { raw: r, parsed, outputs };
}

test('runner: exit codes, stdout and stderr per item, binary-safe, empty output', async () => {
  const { outputs } = await runBatch([
    { script: 'echo "hello $((1+1))"; echo err >&2; exit 3', sudo: false, timeoutMs: 10_000 },
    { script: 'true', sudo: true, timeoutMs: 10_000 },
    { script: "printf 'a|b\\n@@vx-result 9 9 9 9 x x\\n'; printf '\\x1b[0m'", sudo: false, timeoutMs: 10_000 },
    { script: 'read -r line; echo "stdin:${line:-empty}"', sudo: false, timeoutMs: 10_000 },
  ]);
  assert.deepEqual({ ...outputs[0], durationMs: 0 }, { exitCode: 3, stdout: 'hello 2\n', stderr: 'err\n', durationMs: 0, timedOut: false });
  assert.equal(outputs[1]!.exitCode, 0);
  assert.equal(outputs[1]!.stdout, '');
  assert.equal(outputs[2]!.stdout, 'a|b\n@@vx-result 9 9 9 9 x x\n\x1b[0m');
  // Checks get /dev/null as stdin: they cannot eat the rest of the batch.
  assert.equal(outputs[3]!.stdout, 'stdin:empty\n');
});

test('runner: a check that overruns its timeout is killed and marked timed out; the batch goes on', async () => {
  const t0 = Date.now();
  const { outputs } = await runBatch([
    { script: 'sleep 30', sudo: false, timeoutMs: 1000 },
    { script: 'echo after', sudo: false, timeoutMs: 10_000 },
  ]);
  assert.ok(Date.now() - t0 < 15_000);
  assert.equal(outputs[0]!.timedOut, true);
  assert.equal(outputs[0]!.exitCode, 124);
  assert.equal(outputs[1]!.stdout, 'after\n');
});

test('runner: a batch cut short leaves the missing items without a result', () => {
  const out = parseBatchOutput('@@vx-result 0 0 5 0 - -\nnoise\n', 3);
  assert.deepEqual(out[0], { exitCode: 0, durationMs: 5, timedOut: false, stdout: '', stderr: '' });
  assert.equal(out[1], undefined);
  assert.equal(out[2], undefined);
});

test('runner: an item runs only when the items it needs passed by their exit code', async () => {
  const { parsed } = await runBatch([
    { script: 'exit 1', sudo: false, timeoutMs: 10_000, passExit: 0 },
    { script: 'echo ran-b', sudo: false, timeoutMs: 10_000, passExit: 0, needs: [0] },
    { script: 'exit 3', sudo: false, timeoutMs: 10_000, passExit: 3 },
    { script: 'echo ran-d', sudo: false, timeoutMs: 10_000, needs: [2] },
    { script: 'sleep 30', sudo: false, timeoutMs: 1000, passExit: 124 },
    { script: 'echo ran-f', sudo: false, timeoutMs: 10_000, needs: [4] },
    { script: 'echo ran-g', sudo: false, timeoutMs: 10_000, needs: [1] },
    { script: 'echo ran-h', sudo: false, timeoutMs: 10_000, needs: [2, 0] },
  ]);
  assert.deepEqual(parsed[1], { skippedFor: 0 });
  assert.equal((parsed[3] as { stdout: string }).stdout, 'ran-d\n');
  // A timed-out item never passes, whatever exit code it was killed with.
  assert.deepEqual(parsed[5], { skippedFor: 4 });
  // Skipped counts as not passed, and every need is looked at.
  assert.deepEqual(parsed[6], { skippedFor: 1 });
  assert.deepEqual(parsed[7], { skippedFor: 0 });
});

test('runner under sudo: checks without sudo run as the invoking user, with their home, from /', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const items: BatchItem[] = [
    { script: 'echo "$(id -u) $HOME $USER $PWD"', sudo: false, timeoutMs: 10_000 },
    { script: 'echo "$(id -u) $PWD"', sudo: true, timeoutMs: 10_000 },
  ];
  const r = await run('bash', ['-s'], {
    input: batchScript(items),
    timeoutMs: 60_000,
    cwd: '/tmp',
    env: { SUDO_UID: '65534', SUDO_GID: '65534', SUDO_USER: 'nobody' },
  });
  const out = parseBatchOutput(r.stdout, 2) as Array<{ stdout: string }>;
  const home = (await run('getent', ['passwd', '65534'])).stdout.split(':')[5];
  assert.equal(out[0]!.stdout, `65534 ${home} nobody /\n`);
  assert.equal(out[1]!.stdout, '0 /\n');
});

test('sudo only when an item needs root', () => {
  assert.equal(batchCommand([{ script: 'x', sudo: false, timeoutMs: 1 }]), 'bash -s');
  assert.equal(batchCommand([{ script: 'x', sudo: false, timeoutMs: 1 }, { script: 'y', sudo: true, timeoutMs: 1 }]), 'sudo -n bash -s');
});
