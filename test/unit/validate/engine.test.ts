import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChecks } from '../../../src/validate/checks.js';
import { compileCheck, type CompiledCheck } from '../../../src/validate/compile.js';
import { GuestTransportError, nextBatch, runChecks, type BatchExecutor, type BatchItem, type BatchOutput, type ItemOutput } from '../../../src/validate/engine.js';

const vars = { version: '1.0.0', variant: 'minimal', name: 'img', arch: 'amd64' };

function compile(yaml: string): CompiledCheck[] {
  return parseChecks(yaml, 'test').map((c) => compileCheck(c, vars));
}

/**
 * A fake guest: each command script is looked up in `answers` (a function of the attempt number).
 * Like guest/checks/runner.sh, it does not run an item whose in-batch needs did not pass by their
 * passExit; `ran` lists the scripts it ran.
 */
function fakeGuest(answers: Record<string, (attempt: number) => Partial<BatchOutput> | 'transport'>) {
  const calls: BatchItem[][] = [];
  const ran: string[] = [];
  const attempts = new Map<string, number>();
  const exec: BatchExecutor = async (items) => {
    calls.push([...items]);
    const outputs: Array<ItemOutput | undefined> = [];
    for (const it of items) {
      const failed = (it.needs ?? []).find((k) => {
        const o = outputs[k];
        return !o || 'skippedFor' in o || o.timedOut || o.exitCode !== items[k]!.passExit;
      });
      if (failed !== undefined) {
        outputs.push({ skippedFor: failed });
        continue;
      }
      const n = (attempts.get(it.script) ?? 0) + 1;
      attempts.set(it.script, n);
      const a = answers[it.script]?.(n) ?? {};
      if (a === 'transport') return { outputs: [...outputs, ...items.slice(outputs.length).map(() => undefined)], transportError: new GuestTransportError('ssh: connection reset') };
      ran.push(it.script);
      outputs.push({ exitCode: 0, stdout: '', stderr: '', durationMs: 10, timedOut: false, ...a });
    }
    return { outputs };
  };
  return { exec, calls, ran };
}

const fakeClock = () => {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms) };
};

test('needs: a check whose prerequisite failed is skipped and never run', async () => {
  const checks = compile(`
- { id: info, type: command, command: info }
- { id: load, type: command, command: load, needs: [info] }
- { id: listed, type: command, command: listed, needs: [load] }
- { id: other, type: command, command: other }`);
  const g = fakeGuest({ info: () => ({ exitCode: 1, stderr: 'modinfo: ERROR: Module vexfs not found.' }) });
  const { results } = await runChecks(checks, g.exec, { defaultTimeoutMs: 60_000 });
  assert.deepEqual(results.map((r) => [r.id, r.status]), [['info', 'failed'], ['load', 'skipped'], ['listed', 'skipped'], ['other', 'passed']]);
  assert.equal(results[0]!.message, 'exit code 1, expected 0: modinfo: ERROR: Module vexfs not found.');
  assert.equal(results[1]!.message, 'needs info (info failed)');
  assert.equal(results[2]!.message, 'needs load (load skipped)');
  assert.deepEqual(g.ran, ['info', 'other']);
  // All four went in one round trip: the guest judged info by its exit code and skipped load.
  assert.equal(g.calls.length, 1);
  assert.deepEqual(g.calls[0]!.map((c) => [c.script, c.passExit, c.needs]), [['info', 0, undefined], ['load', 0, [0]], ['listed', 0, [1]], ['other', 0, undefined]]);
});

test('needs: a prerequisite that passes by a non-zero exit code lets its dependant run in the same batch', async () => {
  const checks = compile(`
- { id: status, type: command, command: status, expect: { exit_code: 3 } }
- { id: after, type: command, command: after, needs: [status] }`);
  const g = fakeGuest({ status: () => ({ exitCode: 3 }) });
  const { results, batches } = await runChecks(checks, g.exec, { defaultTimeoutMs: 60_000 });
  assert.deepEqual(results.map((r) => [r.id, r.status]), [['status', 'passed'], ['after', 'passed']]);
  assert.equal(batches, 1);
});

test('needs: a prerequisite judged by its output is judged on the host before its dependant is sent', async () => {
  const checks = compile(`
- { id: version, type: command, command: version, expect: { stdout_contains: "1.0.0" } }
- { id: after, type: command, command: after, needs: [version] }`);
  // Exit 0, so the guest alone would have run "after"; the host sees the wrong version.
  const g = fakeGuest({ version: () => ({ stdout: 'vexctl 0.9\n' }) });
  const { results, batches } = await runChecks(checks, g.exec, { defaultTimeoutMs: 60_000 });
  assert.deepEqual(results.map((r) => [r.id, r.status]), [['version', 'failed'], ['after', 'skipped']]);
  assert.deepEqual(g.ran, ['version']);
  assert.equal(batches, 1);
});

test('needs: a guest skip the host would not have made is reported as an error, not hidden', async () => {
  const checks = compile(`
- { id: a, type: command, command: a }
- { id: b, type: command, command: b, needs: [a] }`);
  // A broken guest runner that skips b although a passed.
  const exec: BatchExecutor = async () => ({ outputs: [{ exitCode: 0, stdout: '', stderr: '', durationMs: 1, timedOut: false }, { skippedFor: 0 }] });
  const { results } = await runChecks(checks, exec, { defaultTimeoutMs: 60_000 });
  assert.deepEqual(results.map((r) => [r.id, r.status]), [['a', 'passed'], ['b', 'error']]);
  assert.match(results[1]!.message, /guest judged a as failed, the host as passed/);
});

test('batching: a batch ends before a check needing one of its own that only the host can judge, and after a retry check', () => {
  const checks = compile(`
- { id: a, type: command, command: a, expect: { stdout_contains: x } }
- { id: b, type: command, command: b, needs: [a] }
- { id: c, type: command, command: c, needs: [a] }
- { id: d, type: command, command: d }
- { id: e, type: command, command: e, retry: { timeout_s: 10 } }
- { id: f, type: file, path: /f, needs: [b] }
- { id: g, type: command, command: g, needs: [f] }
- { id: h, type: command, command: h, needs: [d], expect: { stdout_empty: true } }
- { id: i, type: command, command: i, needs: [h] }`);
  assert.deepEqual(nextBatch(checks, 0), [0]);
  assert.deepEqual(nextBatch(checks, 1), [1, 2, 3, 4]);
  assert.deepEqual(nextBatch(checks, 5), [5, 6, 7]);
  assert.deepEqual(nextBatch(checks, 8), [8]);
});

test('the built-in list needs only a handful of round trips', async () => {
  const { loadBuiltinChecks, checksForVariant } = await import('../../../src/validate/checks.js');
  const checks = checksForVariant(loadBuiltinChecks(), 'production').map((c) => compileCheck(c, vars));
  const g = fakeGuest({});
  const { results, batches } = await runChecks(checks, g.exec, { defaultTimeoutMs: 60_000 });
  assert.equal(results.length, checks.length);
  // Needs within a batch are judged in the guest: only vexfs-service-active (retry) splits it.
  assert.equal(batches, 2);
  // Order is preserved across batches.
  assert.deepEqual(g.calls.flat().map((c) => c.script), checks.map((c) => c.script));
});

test('retry: re-run alone until it passes, counting attempts', async () => {
  const checks = compile(`
- { id: svc, type: command, command: svc, retry: { timeout_s: 20, interval_s: 2 } }
- { id: after, type: command, command: after }`);
  const g = fakeGuest({ svc: (n) => (n < 3 ? { exitCode: 3, stdout: 'activating' } : { exitCode: 0, stdout: 'active' }) });
  const clock = fakeClock();
  const { results } = await runChecks(checks, g.exec, { defaultTimeoutMs: 60_000, ...clock });
  assert.equal(results[0]!.status, 'passed');
  assert.equal(results[0]!.attempts, 3);
  assert.deepEqual(g.calls.map((b) => b.map((i) => i.script)), [['svc'], ['svc'], ['svc'], ['after']]);
});

test('retry: gives up at the deadline and says how often it tried', async () => {
  const checks = compile(`- { id: svc, type: command, command: svc, retry: { timeout_s: 10, interval_s: 3 } }`);
  const g = fakeGuest({ svc: () => ({ exitCode: 3, stdout: 'inactive' }) });
  const { results } = await runChecks(checks, g.exec, { defaultTimeoutMs: 60_000, ...fakeClock() });
  assert.equal(results[0]!.status, 'failed');
  assert.equal(results[0]!.attempts, 4); // t = 0, 3, 6, 9
  assert.match(results[0]!.message, /\(after 4 attempts\)$/);
});

test('timeouts: per-check timeout_s is sent; a timed-out attempt fails with that reason', async () => {
  const checks = compile(`
- { id: slow, type: command, command: slow, timeout_s: 5 }
- { id: dflt, type: command, command: dflt, sudo: false }`);
  const g = fakeGuest({ slow: () => ({ exitCode: 124, timedOut: true, durationMs: 5000 }) });
  const { results } = await runChecks(checks, g.exec, { defaultTimeoutMs: 60_000 });
  assert.deepEqual(g.calls[0], [
    { script: 'slow', sudo: true, timeoutMs: 5000, passExit: 0 },
    { script: 'dflt', sudo: false, timeoutMs: 60_000, passExit: 0 },
  ]);
  assert.equal(results[0]!.status, 'failed');
  assert.equal(results[0]!.message, 'timed out after 5 s');
});

test('transport failure: the guest died -> this check is an error and the rest are not run', async () => {
  const checks = compile(`
- { id: a, type: command, command: a }
- { id: b, type: command, command: b }
- { id: c, type: command, command: c, needs: [a] }
- { id: d, type: command, command: d }`);
  const g = fakeGuest({ b: () => 'transport' });
  let healthCalls = 0;
  const { results, fatal } = await runChecks(checks, g.exec, {
    defaultTimeoutMs: 60_000,
    health: async () => {
      healthCalls++;
      throw new Error('guest boot failed: kernel panic (Kernel panic - not syncing: Fatal exception)');
    },
  });
  assert.equal(healthCalls, 1);
  assert.ok(fatal);
  assert.deepEqual(results.map((r) => r.status), ['passed', 'error', 'error', 'error']);
  assert.match(results[1]!.message, /^could not run: guest boot failed: kernel panic/);
  assert.match(results[2]!.message, /^(could not run|not run): guest boot failed: kernel panic/);
});

test('transport failure with a healthy guest: only the affected checks are errors, the run goes on', async () => {
  const checks = compile(`
- { id: a, type: command, command: a }
- { id: b, type: command, command: b, needs: [a] }`);
  const g = fakeGuest({ a: (n) => (n === 1 ? 'transport' : {}) });
  const { results, fatal } = await runChecks(checks, g.exec, { defaultTimeoutMs: 60_000, health: async () => undefined });
  assert.equal(fatal, undefined);
  assert.deepEqual(results.map((r) => [r.status, r.message]), [['error', 'could not run: ssh: connection reset'], ['skipped', 'needs a (a error)']]);
});

test('results carry command, exit code and cleaned output; onResult sees each in order', async () => {
  const checks = compile(`- { id: a, type: command, command: 'echo hi', expect: { stdout_empty: true } }`);
  const g = fakeGuest({ 'echo hi': () => ({ exitCode: 0, stdout: 'hi \x1b[1mthere\x1b[0m\n', stderr: 'warn\n' }) });
  const seen: string[] = [];
  const { results } = await runChecks(checks, g.exec, { defaultTimeoutMs: 1000, onResult: (r) => seen.push(r.id) });
  assert.deepEqual(seen, ['a']);
  assert.equal(results[0]!.command, 'echo hi');
  assert.equal(results[0]!.exitCode, 0);
  assert.equal(results[0]!.output, 'hi there\n[stderr]\nwarn');
  assert.equal(results[0]!.status, 'failed');
});

test('abort: an aborted signal stops the run with AbortedError', async () => {
  const checks = compile(`- { id: a, type: command, command: a }`);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(runChecks(checks, fakeGuest({}).exec, { defaultTimeoutMs: 1000, signal: ac.signal }), { name: 'AbortedError' });
});
