// The guest-side batch runner (guest/checks/runner.sh) is plain bash: run it here for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../../../src/tools/exec.js';
import { batchCommand, batchScript, parseBatchOutput } from '../../../src/validate/guest-exec.js';

async function runBatch(items: Array<{ script: string; sudo: boolean; timeoutMs: number }>) {
  const r = await run('bash', ['-s'], { input: batchScript(items), allowFailure: true, timeoutMs: 60_000, env: { SUDO_UID: undefined } });
  return { raw: r, outputs: parseBatchOutput(r.stdout, items.length) };
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

test('sudo only when an item needs root', () => {
  assert.equal(batchCommand([{ script: 'x', sudo: false, timeoutMs: 1 }]), 'bash -s');
  assert.equal(batchCommand([{ script: 'x', sudo: false, timeoutMs: 1 }, { script: 'y', sudo: true, timeoutMs: 1 }]), 'sudo -n bash -s');
});
