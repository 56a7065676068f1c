// The guest-side batch runner (guest/checks/runner.sh) is plain bash: run it here for real.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { fakeBin, tempDir } from '../../helpers/fs.js';
import { liveChildren, run, type SpawnedProcess } from '../../../src/tools/exec.js';
import { ansiCQuote, batchCommand, batchScript, checkLibrary, checkLibraryFiles, newNonce, parseBatchOutput, RUNNER_FILE } from '../../../src/validate/guest-exec.js';
import { controlPath, masterAttempt } from '../../../src/tools/ssh-master.js';
import type { BatchItem } from '../../../src/validate/engine.js';

async function runBatch(items: BatchItem[]) {
  const nonce = newNonce();
  const r = await run('bash', ['-s'], { input: batchScript(items, nonce), allowFailure: true, timeoutMs: 60_000, env: { SUDO_UID: undefined } });
  const parsed = parseBatchOutput(r.stdout, items.length, nonce);
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
  const n = 'abc';
  const out = parseBatchOutput(`@@vx-abc out 0\nhi\n\n@@vx-abc result 0 0 5 0\n@@vx-abc out 1\npartial out`, 3, n);
  assert.deepEqual(out[0], { exitCode: 0, durationMs: 5, timedOut: false, stdout: 'hi\n', stderr: '' });
  assert.equal(out[1], undefined);
  assert.equal(out[2], undefined);
});

test('runner: output keeps its exact text (no trailing newline, blank lines, stderr) and cannot forge a marker', async () => {
  const { outputs } = await runBatch([
    { script: "printf 'no newline'", sudo: false, timeoutMs: 10_000 },
    { script: "printf '\\n\\nx\\n\\n'; printf 'e1\\ne2' >&2", sudo: false, timeoutMs: 10_000 },
    // A guessed marker (any nonce but the batch's) is just output.
    { script: "echo '@@vx-0123 result 3 0 1 0'; printf '\\n@@vx-%s result 3 0 1 0\\n' \"${vx_nonce:-unset}\"", sudo: false, timeoutMs: 10_000 },
    { script: 'echo never', sudo: false, timeoutMs: 10_000 },
  ]);
  assert.equal(outputs[0]!.stdout, 'no newline');
  assert.equal(outputs[1]!.stdout, '\n\nx\n\n');
  assert.equal(outputs[1]!.stderr, 'e1\ne2');
  assert.equal(outputs[2]!.stdout, '@@vx-0123 result 3 0 1 0\n\n@@vx-unset result 3 0 1 0\n');
  assert.equal(outputs[3]!.stdout, 'never\n');
});

test('runner: scripts arrive byte for byte, and see none of the runner (variables, functions, set -u, traps)', async () => {
  const tricky = `x='it'"'"'s'; y="back\\\\slash $((6*7))"; printf '%s|%s|%s\\n' "$x" "$y" 'é ✓'\n# comment with $'quotes' and \`ticks\`\nexit 0`;
  const { outputs } = await runBatch([
    { script: tricky, sudo: false, timeoutMs: 10_000 },
    { script: 'echo "vars:$(compgen -v | grep -c "^vx_") funcs:$(compgen -A function | grep -c "^vx_") undefined:[$undefined_var] args:$#"', sudo: false, timeoutMs: 10_000 },
    { script: 'trap "echo own-trap" EXIT; exit 7', sudo: false, timeoutMs: 10_000 },
    { script: 'echo still-here', sudo: false, timeoutMs: 10_000 },
    { script: 'type -t check_file check_kernel_module check_service check_mount check_sysctl check_kernel_log | sort -u', sudo: false, timeoutMs: 10_000 },
  ]);
  assert.equal(outputs[0]!.stdout, "it's|back\\slash 42|é ✓\n");
  assert.equal(outputs[1]!.stdout, 'vars:0 funcs:0 undefined:[] args:0\n');
  assert.equal(outputs[2]!.exitCode, 7);
  assert.equal(outputs[2]!.stdout, 'own-trap\n');
  assert.equal(outputs[3]!.stdout, 'still-here\n');
  // ... but do see the check functions, which the compiled checks call.
  assert.equal(outputs[4]!.stdout, 'function\n');
});

test('the check functions: every guest/checks/*.sh but the runner, sent once per batch', () => {
  assert.deepEqual(checkLibraryFiles().map((f) => basename(f)), ['file.sh', 'kernel-log.sh', 'kernel-module.sh', 'mount.sh', 'service.sh', 'sysctl.sh']);
  assert.ok(!checkLibraryFiles().includes(RUNNER_FILE));
  const items: BatchItem[] = [1, 2, 3].map(() => ({ script: 'check_file /etc/passwd', sudo: false, timeoutMs: 1000 }));
  const script = batchScript(items, 'n0nce');
  assert.equal(script.split(ansiCQuote(checkLibrary())).length, 2, 'the library once');
  assert.ok(script.startsWith(`vx_nonce=n0nce\nvx_checks=$'`));
});

test('runner: a compiled check runs its function and is judged by its exit code', async () => {
  const { parsed } = await runBatch([
    { script: 'check_file /nonexistent/vexfs-x', sudo: false, timeoutMs: 10_000, passExit: 0 },
    { script: 'echo ran', sudo: false, timeoutMs: 10_000, needs: [0] },
    { script: 'check_sysctl kernel.ostype Linux', sudo: false, timeoutMs: 10_000, passExit: 0 },
  ]);
  assert.deepEqual({ ...parsed[0], durationMs: 0 }, { exitCode: 1, stdout: 'FAIL: /nonexistent/vexfs-x does not exist\n', stderr: '', durationMs: 0, timedOut: false });
  assert.deepEqual(parsed[1], { skippedFor: 0 });
  assert.equal((parsed[2] as { stdout: string }).stdout, 'OK: 1 value(s) as expected\n');
});

test('runner: a timed-out check is killed with the processes it started', async () => {
  const marker = `vx-test-sleeper-${process.pid}`;
  const { outputs } = await runBatch([
    { script: `bash -c 'exec -a ${marker} sleep 60' & sleep 60`, sudo: false, timeoutMs: 1000 },
    { script: `pgrep -f ${marker} || echo gone`, sudo: false, timeoutMs: 10_000 },
  ]);
  assert.equal(outputs[0]!.timedOut, true);
  assert.equal(outputs[1]!.stdout, 'gone\n');
});

test('runner: a timed-out check gets TERM and time to clean up, then KILL if it ignores TERM (as timeout -k 2)', async () => {
  const t0 = Date.now();
  const { outputs } = await runBatch([
    { script: 'trap "echo cleaned up" EXIT; sleep 30', sudo: false, timeoutMs: 1000 },
    { script: 'trap "" TERM; sleep 30', sudo: false, timeoutMs: 1000 },
    { script: 'echo next', sudo: false, timeoutMs: 10_000 },
  ]);
  assert.equal(outputs[0]!.timedOut, true);
  assert.equal(outputs[0]!.stdout, 'cleaned up\n');
  assert.equal(outputs[1]!.timedOut, true);
  assert.ok(outputs[1]!.durationMs >= 2900 && outputs[1]!.durationMs < 6000, `killed after the grace: ${outputs[1]!.durationMs} ms`);
  assert.equal(outputs[2]!.stdout, 'next\n');
  assert.ok(Date.now() - t0 < 15_000);
});

test('ansiCQuote: bash decodes it back to the same bytes', async () => {
  const text = "a'b\\c\n\t$HOME `x` é\x01";
  const r = await run('bash', ['-c', `printf '%s' ${ansiCQuote(text)}`]);
  assert.equal(r.stdout, text);
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
    // As the user too: the check functions are there, the runner's variables and arguments are not.
    { script: 'check_sysctl kernel.ostype Linux && echo "vars:$(compgen -v | grep -c "^vx_") args:$# $0"', sudo: false, timeoutMs: 10_000 },
  ];
  const r = await run('bash', ['-s'], {
    input: batchScript(items, 'n0nce'),
    timeoutMs: 60_000,
    cwd: '/tmp',
    env: { SUDO_UID: '65534', SUDO_GID: '65534', SUDO_USER: 'nobody' },
  });
  const out = parseBatchOutput(r.stdout, 3, 'n0nce') as Array<{ stdout: string }>;
  const home = (await run('getent', ['passwd', '65534'])).stdout.split(':')[5];
  assert.equal(out[0]!.stdout, `65534 ${home} nobody /\n`);
  assert.equal(out[1]!.stdout, '0 /\n');
  assert.equal(out[2]!.stdout, 'OK: 1 value(s) as expected\nvars:0 args:0 bash\n');
});

test('sudo only when an item needs root', () => {
  assert.equal(batchCommand([{ script: 'x', sudo: false, timeoutMs: 1 }]), 'bash -s');
  assert.equal(batchCommand([{ script: 'x', sudo: false, timeoutMs: 1 }, { script: 'y', sudo: true, timeoutMs: 1 }]), 'sudo -n bash -s');
});

describe('masterAttempt: the first login is the master connection (fake ssh)', { timeout: 30_000 }, () => {
  const bin = tempDir();
  const savedPath = process.env.PATH;
  const sockDir = tempDir();
  const log = join(sockDir, 'master.log');
  const t = { host: '127.0.0.1', port: 40022, user: 'u', key: { privateKeyPath: '/dev/null', publicKey: '' } };
  before(() => {
    // -M: fail like an sshd that refuses the key while $FAKE_DENY exists, else "log in" after a
    // moment (the socket appears) and stay. -O check: succeeds once the socket is there.
    fakeBin(
      bin,
      'ssh',
      `cp=; master=0; check=0
while [ $# -gt 0 ]; do case "$1" in -M) master=1 ;; -O) check=1 ;; ControlPath=*) cp=\${1#ControlPath=} ;; esac; shift; done
if [ $check = 1 ]; then [ -e "$cp" ] && exit 0; echo "Control socket connect($cp): No such file or directory" >&2; exit 255; fi
if [ -e "${bin}/deny" ]; then sleep 0.2; echo "vx@127.0.0.1: Permission denied (publickey)." >&2; exit 255; fi
sleep 0.3; : > "$cp"; trap 'rm -f "$cp"; exit 0' TERM; while :; do sleep 0.1; done`,
    );
    process.env.PATH = `${bin}${delimiter}${savedPath}`;
  });
  after(() => {
    process.env.PATH = savedPath;
  });

  test('a refused login is a failed attempt with ssh\'s reason, and leaves no master running', async () => {
    writeFileSync(join(bin, 'deny'), '');
    let master: SpawnedProcess | undefined;
    const r = await masterAttempt(t, sockDir, (m) => (master = m), { logFile: log, pollMs: 20 })();
    assert.deepEqual(r, { ok: false, error: 'vx@127.0.0.1: Permission denied (publickey).' });
    assert.equal(master, undefined);
    assert.equal(liveChildren(), 0);
  });

  test('an accepted login hands over the running master, which later batches use', async () => {
    rmSync(join(bin, 'deny'), { force: true });
    let master: SpawnedProcess | undefined;
    const r = await masterAttempt(t, sockDir, (m) => (master = m), { logFile: log, pollMs: 20 })();
    assert.deepEqual(r, { ok: true });
    assert.ok(master?.isRunning());
    assert.ok(existsSync(controlPath(sockDir)));
    await master!.stop(1000);
    assert.equal(liveChildren(), 0);
  });

  test('no login within the ready timeout: the attempt fails and the master is stopped', async () => {
    rmSync(join(bin, 'deny'), { force: true });
    const r = await masterAttempt(t, tempDir(), () => assert.fail('no master expected'), { logFile: log, pollMs: 20, readyTimeoutMs: 100 })();
    assert.deepEqual(r, { ok: false, error: 'no login within 0 s' });
    assert.equal(liveChildren(), 0);
  });
});
