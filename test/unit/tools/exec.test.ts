import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastLines, liveChildren, run, runAttached, spawnProcess, type SpawnedProcess } from '../../../src/tools/exec.js';
import { AbortedError, CommandError, TimeoutError } from '../../../src/errors.js';
import { isAlive, tempDir, waitFor } from '../../helpers/fs.js';

/** Reads a pid a child wrote into a file (waiting for it to appear). */
async function pidFrom(file: string): Promise<number> {
  let pid = NaN;
  await waitFor(() => {
    try {
      pid = Number(readFileSync(file, 'utf8').trim());
    } catch {
      return false;
    }
    return Number.isInteger(pid) && pid > 0;
  });
  assert.ok(pid > 0, `no pid in ${file}`);
  return pid;
}

describe('run', { timeout: 30_000 }, () => {
  test('captures stdout and stderr, resolves with exit code 0', async () => {
    const r = await run('sh', ['-c', 'echo out; echo err >&2']);
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.deepEqual(r.command, ['sh', '-c', 'echo out; echo err >&2']);
  });

  test('non-zero exit: CommandError with the command, the exit code and the last stderr lines', async () => {
    const script = 'for i in $(seq 1 30); do echo "line $i" >&2; done; exit 3';
    await assert.rejects(run('sh', ['-c', script]), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.equal(err.code, 'E_COMMAND');
      assert.deepEqual(err.command, ['sh', '-c', script]);
      assert.equal(err.exitCode, 3);
      assert.equal(err.signal, null);
      assert.match(err.stderrTail, /line 30$/);
      assert.doesNotMatch(err.stderrTail, /line 10\b/, 'only the tail is kept');
      assert.match(err.message, /exited with code 3/);
      assert.match(err.message, /line 30/);
      return true;
    });
  });

  test('allowFailure resolves with the exit code instead of throwing', async () => {
    const r = await run('sh', ['-c', 'exit 7'], { allowFailure: true });
    assert.equal(r.exitCode, 7);
  });

  test('stdin is /dev/null by default, input is passed when given', async () => {
    assert.equal((await run('cat', [])).stdout, '');
    assert.equal((await run('cat', [], { input: 'hello\n' })).stdout, 'hello\n');
  });

  test('env adds and removes variables; cwd is honoured', async () => {
    process.env.VEXFS_TEST_REMOVE_ME = 'x';
    try {
      const dir = tempDir();
      const r = await run('sh', ['-c', 'echo "$A|${VEXFS_TEST_REMOVE_ME-unset}|$(pwd)"'], { env: { A: 'a', VEXFS_TEST_REMOVE_ME: undefined }, cwd: dir });
      assert.equal(r.stdout.trim(), `a|unset|${dir}`);
    } finally {
      delete process.env.VEXFS_TEST_REMOVE_ME;
    }
  });

  test('timeout: TimeoutError, and the child (and its own child) are really dead', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'pid');
    const t0 = Date.now();
    // The shell forks `sleep` (not exec): killing only the shell would leave sleep holding the pipes.
    await assert.rejects(
      run('sh', ['-c', `sleep 30 & echo $! > ${pidFile}; echo started >&2; wait`], { timeoutMs: 300, killGraceMs: 500 }),
      (err: unknown) => {
        assert.ok(err instanceof TimeoutError, `expected TimeoutError, got ${String(err)}`);
        assert.match(err.message, /did not finish within 0\.3 s/);
        assert.match(err.message, /started/, 'stderr tail included');
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    const grandchild = await pidFrom(pidFile);
    assert.ok(await waitFor(() => !isAlive(grandchild), 2000), `sleep ${grandchild} survived the timeout`);
    assert.equal(liveChildren(), 0);
  });

  test('a child that ignores SIGTERM is SIGKILLed after the grace period', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'pid');
    const t0 = Date.now();
    // Busy loop in the shell itself: no child for the signal to interrupt.
    const script = `trap '' TERM; echo $$ > ${pidFile}; while :; do :; done`;
    await assert.rejects(run('sh', ['-c', script], { timeoutMs: 200, killGraceMs: 400 }), TimeoutError);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 550, `returned after ${elapsed} ms: before the grace period ran out`);
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    const pid = await pidFrom(pidFile);
    assert.equal(isAlive(pid), false, `pid ${pid} still alive`);
    assert.equal(liveChildren(), 0);
  });

  test('abort: AbortedError and the child is dead', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'pid');
    const ac = new AbortController();
    const p = run('sh', ['-c', `echo $$ > ${pidFile}; exec sleep 30`], { signal: ac.signal, killGraceMs: 500 });
    const pid = await pidFrom(pidFile);
    assert.equal(isAlive(pid), true);
    ac.abort();
    await assert.rejects(p, AbortedError);
    assert.equal(isAlive(pid), false);
    assert.equal(liveChildren(), 0);
  });

  test('an already aborted signal: nothing is started', async () => {
    const dir = tempDir();
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(run('sh', ['-c', `touch ${join(dir, 'ran')}`], { signal: ac.signal }), AbortedError);
    await new Promise((r) => setTimeout(r, 100));
    assert.throws(() => readFileSync(join(dir, 'ran')), /ENOENT/);
  });

  test('logFile receives the command line, stdout and stderr; its directory is created', async () => {
    const dir = tempDir();
    const log = join(dir, 'nested', 'dir', 'cmd.log');
    await run('sh', ['-c', 'echo to-stdout; echo to-stderr >&2'], { logFile: log });
    await run('sh', ['-c', 'echo second'], { logFile: log });
    const text = readFileSync(log, 'utf8');
    assert.match(text, /^\$ sh -c echo to-stdout; echo to-stderr >&2\n/);
    assert.match(text, /to-stdout\n/);
    assert.match(text, /to-stderr\n/);
    assert.match(text, /\$ sh -c echo second\nsecond\n$/, 'appends, never truncates');
  });

  test('a log file that cannot be opened never crashes the run (run and spawnProcess)', async () => {
    const dir = tempDir();
    const notADir = join(dir, 'file');
    writeFileSync(notADir, '');
    const r = await run('echo', ['still runs'], { logFile: join(notADir, 'x.log') });
    assert.equal(r.stdout, 'still runs\n');
    const p = spawnProcess('echo', ['x'], { logFile: join(notADir, 'y.log') });
    assert.deepEqual(await p.exited, { exitCode: 0, signal: null });
  });

  test('onOutput streams chunks with their stream name', async () => {
    const seen: string[] = [];
    await run('sh', ['-c', 'echo a; echo b >&2'], { onOutput: (c, s) => seen.push(`${s}:${c.trim()}`) });
    assert.deepEqual(seen.sort(), ['stderr:b', 'stdout:a']);
  });

  test('a missing binary: CommandError saying "command not found" with a doctor hint', async () => {
    await assert.rejects(run('vexfs-no-such-tool-xyz', ['--x']), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.match(err.message, /could not be started/);
      assert.match(err.message, /vexfs-no-such-tool-xyz: command not found/);
      assert.match(err.hint ?? '', /vexfs-image doctor/);
      return true;
    });
    assert.equal(liveChildren(), 0);
  });

  test('lastLines keeps the last n lines without trailing blank lines', () => {
    assert.equal(lastLines('a\nb\nc\n\n', 2), 'b\nc');
    assert.equal(lastLines('only', 5), 'only');
  });
});

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

// A failing assertion must not leave a child behind (it would keep the test process alive).
const spawned: SpawnedProcess[] = [];
function track(p: SpawnedProcess): SpawnedProcess {
  spawned.push(p);
  return p;
}
after(() => {
  for (const p of spawned) if (p.isRunning()) p.child.kill('SIGKILL');
});

describe('spawnProcess', { timeout: 20_000 }, () => {
  test('stop() sends SIGTERM, then SIGKILL after the grace; safe to call twice', async () => {
    const dir = tempDir();
    const log = join(dir, 'p.log');
    const p = track(spawnProcess('sh', ['-c', `trap '' TERM; echo ready; while :; do sleep 0.05; done`], { logFile: log }));
    assert.ok(p.pid);
    assert.equal(liveChildren() >= 1, true);
    assert.ok(await waitFor(() => readText(log).includes('ready')), 'child did not start');
    assert.equal(p.isRunning(), true);
    const t0 = Date.now();
    await p.stop(300);
    assert.ok(Date.now() - t0 >= 250, 'waited for the grace period');
    assert.equal(p.isRunning(), false);
    assert.equal(isAlive(p.pid!), false);
    const { signal } = await p.exited;
    assert.equal(signal, 'SIGKILL');
    await p.stop(300); // second call is a no-op
    assert.equal(liveChildren(), 0);
    assert.match(readFileSync(log, 'utf8'), /^\$ sh -c .*\nready\n/);
  });

  test('the abort signal stops it', async () => {
    const ac = new AbortController();
    const p = track(spawnProcess('sleep', ['30'], { signal: ac.signal }));
    assert.equal(p.isRunning(), true);
    ac.abort();
    const r = await p.exited;
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(isAlive(p.pid!), false);
  });

  test('refuses to start on an aborted signal', () => {
    const ac = new AbortController();
    ac.abort();
    assert.throws(() => spawnProcess('sleep', ['30'], { signal: ac.signal }), AbortedError);
  });

  test('a missing binary: exited resolves (never rejects)', async () => {
    const p = spawnProcess('vexfs-no-such-tool-xyz', []);
    assert.deepEqual(await p.exited, { exitCode: null, signal: null });
    assert.equal(p.isRunning(), false);
  });
});

describe('runAttached (the terminal handed to the child)', { timeout: 20_000 }, () => {
  test('resolves with the exit code (a non-zero one is not an error) or the signal', async () => {
    assert.deepEqual(await runAttached('sh', ['-c', 'exit 0']), { exitCode: 0, signal: null });
    assert.deepEqual(await runAttached('sh', ['-c', 'exit 3']), { exitCode: 3, signal: null });
    assert.deepEqual(await runAttached('sh', ['-c', 'kill -KILL $$']), { exitCode: null, signal: 'SIGKILL' });
    assert.equal(liveChildren(), 0);
  });

  test('env and cwd are honoured', async () => {
    const dir = tempDir();
    const r = await runAttached('sh', ['-c', `[ "$X" = y ] && [ "$(pwd)" = "${dir}" ] && [ -z "$UNSET_ME" ]`], { cwd: dir, env: { X: 'y', UNSET_ME: undefined } });
    assert.equal(r.exitCode, 0);
  });

  test('an abort is forwarded as SIGTERM (SIGKILL after the grace)', async () => {
    const ac = new AbortController();
    const p = runAttached('sh', ['-c', 'trap "" TERM; exec sleep 30'], { signal: ac.signal, killGraceMs: 200 });
    setTimeout(() => ac.abort(), 100);
    const r = await p;
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(liveChildren(), 0);
    const plain = new AbortController();
    const q = runAttached('sleep', ['30'], { signal: plain.signal });
    setTimeout(() => plain.abort(), 100);
    assert.equal((await q).signal, 'SIGTERM');
  });

  test('a missing binary: CommandError "command not found"; an aborted signal: nothing started', async () => {
    await assert.rejects(runAttached('vexfs-no-such-binary', []), (e: unknown) => e instanceof CommandError && /command not found/.test(e.message));
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(runAttached('true', [], { signal: ac.signal }), AbortedError);
  });
});
