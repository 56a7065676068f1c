import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../../helpers/fs.js';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../../src/tools/exec.js';
import { parseChecks } from '../../../src/validate/checks.js';
import { compileCheck, escapeRegExp, judgeScript, substitute, TAINT_LETTERS, taintMask, type CheckVars } from '../../../src/validate/compile.js';
import { checkLibrary } from '../../../src/validate/guest-exec.js';


const vars: CheckVars = { version: '1.0.0+git', variant: 'minimal', name: 'vexfs-minimal-1.0.0+git' };

function one(yaml: string) {
  const [c] = parseChecks(yaml, 'test');
  return compileCheck(c!, vars);
}

/** The program the guest runs for a compiled script, minus the runner: the check functions, then the script. */
function withLibrary(script: string): string {
  return `${checkLibrary()}\n${script}`;
}

/** Runs a compiled script locally with bash (non-command types only use standard tools). */
async function runLocally(script: string, env?: Record<string, string | undefined>) {
  const r = await run('bash', ['-c', withLibrary(script)], { allowFailure: true, timeoutMs: 20_000, ...(env ? { env } : {}) });
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** The names of the taint flags in value, as the guest's kernel-log check writes them. */
async function taintNames(value: number): Promise<string> {
  return (await run('bash', ['-c', withLibrary(`_check_taint_names out ${value}; printf '%s' "$out"`)])).stdout;
}

test('substitute: variables, regex escaping, unknown variables rejected', () => {
  assert.equal(substitute('vexctl {{version}} ({{ variant }})', vars), 'vexctl 1.0.0+git (minimal)');
  assert.equal(substitute('^vexctl {{version}}$', vars, escapeRegExp), '^vexctl 1\\.0\\.0\\+git$');
  assert.throws(() => substitute('{{nope}}', vars), /unknown template variable \{\{nope\}\}/);
});

test('taint flags: letters <-> bits (letters -> mask on the host, bits -> letters in the guest)', async () => {
  assert.equal(taintMask(['O']), 4096);
  assert.equal(taintMask(['O', 'E']), 4096 + 8192);
  assert.equal(await taintNames(4096 + 8192 + 1), 'POE');
  assert.equal(await taintNames(0), 'none');
  assert.throws(() => taintMask(['Z']), /unknown taint flag/);
});

test('the guest names every taint bit with the host\'s letter for it', async () => {
  for (const [bit, letter] of [...TAINT_LETTERS].entries()) assert.equal(await taintNames(2 ** bit), letter, `bit ${bit}`);
  assert.equal(await taintNames(2 ** TAINT_LETTERS.length - 1), TAINT_LETTERS);
});

test('each type compiles to one quoted call of its guest function', () => {
  const calls = {
    file: one(`- { id: a, type: file, path: "/etc/it's {{variant}}", expect: { executable: false, contains: 'v = {{version}}' } }`).script,
    absent: one(`- { id: a, type: file, path: /etc/x, expect: { exists: false } }`).script,
    service: one(`- { id: s, type: service, unit: vexfs.service, expect: { enabled: true, active: false } }`).script,
    module: one(`- { id: m, type: kernel-module, module: vexfs }`).script,
    mount: one(`- { id: m, type: mount, fstype: tmpfs, target: /mnt/a b, options: 'size=1m,mode=0755' }`).script,
    sysctl: one(`- { id: s, type: sysctl, values: { kernel.ostype: Linux, net.ipv4.ip_local_port_range: "32768   60999 " } }`).script,
    log: one(`- { id: k, type: kernel-log }`).script,
  };
  assert.deepEqual(calls, {
    file: `check_file '/etc/it'\\''s minimal' --not-executable --contains 'v = 1.0.0+git'`,
    absent: 'check_file /etc/x --absent',
    service: 'check_service vexfs.service --enabled --inactive',
    module: 'check_kernel_module vexfs --available',
    mount: `check_mount tmpfs none --target '/mnt/a b' --options 'size=1m,mode=0755'`,
    sysctl: `check_sysctl kernel.ostype Linux net.ipv4.ip_local_port_range '32768 60999'`,
    log: 'check_kernel_log --allow-mask 4096 -- Oops BUG: WARNING:',
  });
});

test('command: exit code, stdout_matches with the escaped version, messages', () => {
  const c = one(`- { id: v, type: command, command: vexctl --version, expect: { stdout_matches: '^vexctl {{version}}$' } }`);
  assert.equal(c.script, 'vexctl --version');
  assert.deepEqual(c.evaluate({ exitCode: 0, stdout: 'vexctl 1.0.0+git\n', stderr: '' }), { ok: true, message: 'vexctl 1.0.0+git' });
  const wrong = c.evaluate({ exitCode: 0, stdout: 'vexctl 1.0.0xgit\n', stderr: '' });
  assert.equal(wrong.ok, false);
  assert.match(wrong.message, /does not match/);
  const missing = c.evaluate({ exitCode: 127, stdout: '', stderr: 'bash: vexctl: command not found\n' });
  assert.deepEqual(missing, { ok: false, message: 'exit code 127, expected 0: bash: vexctl: command not found' });
});

test('command: stdout_empty, stdout_contains, stdout_not_matches, other exit codes', () => {
  const empty = one(`- { id: f, type: command, command: systemctl --failed, expect: { stdout_empty: true } }`);
  assert.equal(empty.evaluate({ exitCode: 0, stdout: '\n', stderr: '' }).ok, true);
  assert.match(empty.evaluate({ exitCode: 0, stdout: 'foo.service loaded failed failed Foo\n', stderr: '' }).message, /expected no output, got: foo\.service/);
  const contains = one(`- { id: c, type: command, command: x, expect: { stdout_contains: 'variant={{variant}}' } }`);
  assert.equal(contains.evaluate({ exitCode: 0, stdout: 'a\nvariant=minimal\n', stderr: '' }).ok, true);
  assert.equal(contains.evaluate({ exitCode: 0, stdout: 'variant=production\n', stderr: '' }).ok, false);
  const nm = one(`- { id: n, type: command, command: x, expect: { stdout_not_matches: '^permitrootlogin yes$' } }`);
  assert.match(nm.evaluate({ exitCode: 0, stdout: 'x\npermitrootlogin yes\n', stderr: '' }).message, /output matches .*: permitrootlogin yes/);
  const three = one(`- { id: t, type: command, command: vexctl status, expect: { exit_code: 3 } }`);
  assert.equal(three.evaluate({ exitCode: 3, stdout: '', stderr: '' }).ok, true);
});

test('judgeScript: FAIL lines joined, OK line as message', () => {
  assert.deepEqual(judgeScript({ exitCode: 1, stdout: 'noise\nFAIL: a\nFAIL: b\n', stderr: '' }), { ok: false, message: 'a; b' });
  assert.deepEqual(judgeScript({ exitCode: 0, stdout: 'OK: fine\n', stderr: '' }), { ok: true, message: 'fine' });
  assert.deepEqual(judgeScript({ exitCode: 2, stdout: '', stderr: 'sudo: a password is required\n' }), { ok: false, message: 'sudo: a password is required' });
});

test('file checks run for real: exists, executable, contains, absent', async () => {
  const dir = await tempDir('vx-file-');
  const conf = join(dir, 'vexfs.conf');
  const helper = join(dir, 'helper');
  await writeFile(conf, 'version = 1.0.0+git\n');
  await writeFile(helper, '#!/bin/sh\n');
  const exists = one(`- { id: a, type: file, path: '${conf}' }`);
  assert.equal(judgeScript(await runLocally(exists.script)).ok, true);
  const exec = one(`- { id: b, type: file, path: '${helper}', expect: { executable: true } }`);
  const notExec = judgeScript(await runLocally(exec.script));
  assert.equal(notExec.ok, false);
  assert.match(notExec.message, /is not an executable file \(-rw/);
  await chmod(helper, 0o755);
  assert.equal(judgeScript(await runLocally(exec.script)).ok, true);
  const contains = one(`- { id: c, type: file, path: '${conf}', expect: { contains: 'version = {{version}}' } }`);
  assert.equal(judgeScript(await runLocally(contains.script)).ok, true);
  const notContains = one(`- { id: d, type: file, path: '${conf}', expect: { contains: 'variant = x' } }`);
  assert.match(judgeScript(await runLocally(notContains.script)).message, /does not contain variant = x/);
  const missing = one(`- { id: e, type: file, path: '${dir}/nope' }`);
  assert.deepEqual(judgeScript(await runLocally(missing.script)), { ok: false, message: `${dir}/nope does not exist` });
  const absent = one(`- { id: f, type: file, path: '${dir}/nope', expect: { exists: false } }`);
  assert.equal(judgeScript(await runLocally(absent.script)).ok, true);
  const spaces = one(`- { id: g, type: file, path: "${dir}/it's here" }`);
  await writeFile(join(dir, "it's here"), '');
  assert.equal(judgeScript(await runLocally(spaces.script)).ok, true);
});

test('sysctl checks run for real and name every mismatch', async () => {
  const ok = one(`- { id: s, type: sysctl, values: { kernel.ostype: Linux } }`);
  assert.deepEqual(judgeScript(await runLocally(ok.script)), { ok: true, message: '1 value(s) as expected' });
  const bad = one(`- { id: s, type: sysctl, values: { kernel.ostype: Plan9, kernel.nonexistent_key: 1 } }`);
  const v = judgeScript(await runLocally(bad.script));
  assert.equal(v.ok, false);
  assert.match(v.message, /kernel\.ostype = Linux \(expected Plan9\)/);
  assert.match(v.message, /kernel\.nonexistent_key/);
});

test('kernel-module: actions and expectations run modprobe / rmmod / modinfo and read /proc/modules (fake tools)', async () => {
  const dir = await tempDir('vx-modtools-');
  const calls = join(dir, 'calls');
  for (const tool of ['modprobe', 'rmmod', 'modinfo']) {
    await writeFile(join(dir, tool), `#!/bin/sh\necho "${tool} $*" >> ${calls}\n${tool === 'modinfo' ? 'echo "filename:       (builtin)"\n' : ''}`);
    await chmod(join(dir, tool), 0o755);
  }
  const env = { PATH: `${dir}:${process.env.PATH}` };
  const ran = async () => (await readFile(calls, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  // load: modprobe, then expected in /proc/modules (a fake modprobe loads nothing).
  const load = one(`- { id: l, type: kernel-module, module: vexfs_fake_xyz, action: load }`);
  assert.equal(load.script, 'check_kernel_module vexfs_fake_xyz --load --loaded');
  assert.deepEqual(judgeScript(await runLocally(load.script, env)), { ok: false, message: 'vexfs_fake_xyz is not listed by lsmod' });
  assert.deepEqual(await ran(), ['modprobe vexfs_fake_xyz']);
  // unload of a module that is not loaded: no rmmod, and it is not listed.
  await writeFile(calls, '');
  const unload = one(`- { id: u, type: kernel-module, module: vexfs_fake_xyz, action: unload }`);
  assert.equal(unload.script, 'check_kernel_module vexfs_fake_xyz --unload --not-loaded');
  assert.deepEqual(judgeScript(await runLocally(unload.script, env)), { ok: true, message: 'vexfs_fake_xyz unloaded with rmmod, not loaded' });
  assert.deepEqual(await ran(), []);
  // unload of a loaded module (the first in /proc/modules, if any): rmmod; a fake one leaves it listed.
  const first = (await readFile('/proc/modules', 'utf8').catch(() => '')).split('\n')[0]?.split(' ')[0];
  if (first) {
    const v = judgeScript(await runLocally(one(`- { id: u, type: kernel-module, module: ${first}, action: unload }`).script, env));
    assert.deepEqual(v, { ok: false, message: `${first} is still listed by lsmod` });
    assert.deepEqual(await ran(), [`rmmod ${first}`]);
  }
  await writeFile(calls, '');
  const info = one(`- { id: i, type: kernel-module, module: vexfs }`);
  assert.deepEqual(judgeScript(await runLocally(info.script, env)), { ok: true, message: 'vexfs (builtin)' });
  assert.deepEqual(await ran(), ['modinfo vexfs']);
});

test('kernel-module: a module the index names but whose file is gone is not available (fake modinfo)', async () => {
  const dir = await tempDir('vx-mod-');
  // modinfo answering from the index for a deleted file, as libkmod does.
  await writeFile(join(dir, 'modinfo'), '#!/bin/sh\necho "filename:       /lib/modules/x/gone/loop.ko.xz"\necho "license:        GPL"\n');
  await chmod(join(dir, 'modinfo'), 0o755);
  const info = one(`- { id: i, type: kernel-module, module: loop }`);
  const r = await run('bash', ['-c', withLibrary(info.script)], { allowFailure: true, env: { PATH: `${dir}:${process.env.PATH}` } });
  assert.deepEqual(judgeScript({ exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }), { ok: false, message: 'modinfo loop: module file /lib/modules/x/gone/loop.ko.xz does not exist' });
  await writeFile(join(dir, 'modinfo'), '#!/bin/sh\necho "filename:       (builtin)"\n');
  const b = await run('bash', ['-c', withLibrary(info.script)], { allowFailure: true, env: { PATH: `${dir}:${process.env.PATH}` } });
  assert.equal(judgeScript({ exitCode: b.exitCode, stdout: b.stdout, stderr: b.stderr }).ok, true);
});

test('kernel-module script judges a missing module (run locally)', async () => {
  const info = one(`- { id: i, type: kernel-module, module: vexfs_not_here_xyz }`);
  const v = judgeScript(await runLocally(info.script));
  assert.equal(v.ok, false);
  assert.match(v.message, /modinfo vexfs_not_here_xyz/);
});

/**
 * A fake systemctl answering is-enabled and show for one unit from files in dir (any other unit:
 * not found); each call is appended to dir/calls.
 */
async function fakeSystemctl(dir: string, unit: string, state: { enabled: string; enabledRc: number; active: string }) {
  await writeFile(
    join(dir, 'systemctl'),
    `#!/bin/bash
echo "$1" >> ${join(dir, 'calls')}
case "$1" in
  is-enabled) if [ "$2" = ${unit} ]; then echo ${state.enabled}; exit ${state.enabledRc}; fi; echo not-found; exit 4 ;;
  show) u=\${@: -1}; if [ "$u" = ${unit} ]; then echo LoadState=loaded; echo ActiveState=${state.active}; else echo LoadState=not-found; echo ActiveState=inactive; fi ;;
esac
`,
  );
  await chmod(join(dir, 'systemctl'), 0o755);
  // journalctl for the failure message: nothing to say.
  await writeFile(join(dir, 'journalctl'), '#!/bin/sh\nexit 0\n');
  await chmod(join(dir, 'journalctl'), 0o755);
}

test('service checks run (fake systemctl): enabled, active, missing unit, one systemctl per expectation', async () => {
  const dir = await tempDir('vx-svc-');
  const runWith = async (script: string) => judgeScript(await runLocally(script, { PATH: `${dir}:${process.env.PATH}` }));
  const enabled = one(`- { id: e, type: service, unit: vexfs.service, expect: { enabled: true } }`).script;
  const active = one(`- { id: a, type: service, unit: vexfs.service, expect: { active: true } }`).script;
  const both = one(`- { id: b, type: service, unit: vexfs.service, expect: { enabled: false, active: false } }`).script;
  await fakeSystemctl(dir, 'vexfs.service', { enabled: 'enabled', enabledRc: 0, active: 'active' });
  // One systemctl per expectation.
  const calls = async (script: string) => {
    await writeFile(join(dir, 'calls'), '');
    await runWith(script);
    return (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n');
  };
  assert.deepEqual(await calls(enabled), ['is-enabled']);
  assert.deepEqual(await calls(active), ['show']);
  assert.deepEqual(await calls(both), ['is-enabled', 'show']);
  assert.deepEqual(await runWith(enabled), { ok: true, message: 'vexfs.service: enabled' });
  assert.deepEqual(await runWith(active), { ok: true, message: 'vexfs.service: active' });
  assert.deepEqual(await runWith(both), { ok: false, message: 'vexfs.service is enabled (expected disabled); vexfs.service is active (expected inactive)' });
  await fakeSystemctl(dir, 'vexfs.service', { enabled: 'static', enabledRc: 0, active: 'reloading' });
  assert.equal((await runWith(enabled)).ok, true);
  assert.equal((await runWith(active)).ok, true);
  await fakeSystemctl(dir, 'vexfs.service', { enabled: 'disabled', enabledRc: 1, active: 'failed' });
  assert.deepEqual(await runWith(enabled), { ok: false, message: 'vexfs.service is disabled (expected enabled)' });
  assert.deepEqual(await runWith(active), { ok: false, message: 'vexfs.service is failed (expected active)' });
  assert.deepEqual(await runWith(both), { ok: true, message: 'vexfs.service: disabled failed' });
  await fakeSystemctl(dir, 'other.service', { enabled: 'enabled', enabledRc: 0, active: 'active' });
  assert.deepEqual(await runWith(enabled), { ok: false, message: 'vexfs.service not found' });
  assert.deepEqual(await runWith(active), { ok: false, message: 'vexfs.service not found' });
});

test('mount checks run for real on tmpfs: write, read back, unmount, leave nothing behind', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const dir = await tempDir('vx-mnt-');
  const target = join(dir, "mnt with space");
  for (const y of [`- { id: m, type: mount, fstype: tmpfs, options: 'size=4m' }`, `- { id: m, type: mount, fstype: tmpfs, target: '${target}', options: 'size=4m' }`]) {
    const v = judgeScript(await runLocally(one(y).script));
    assert.equal(v.ok, true, v.message);
    assert.match(v.message, /^mounted tmpfs on .*, wrote and read back 1048576 bytes \(identical\), unmounted$/);
  }
  assert.ok(!(await readFile('/proc/mounts', 'utf8')).includes(dir), 'nothing left mounted');
  const full = judgeScript(await runLocally(one(`- { id: m, type: mount, fstype: tmpfs, options: 'size=512k' }`).script));
  assert.equal(full.ok, false);
  assert.match(full.message, /writing to .* failed/);
  const bad = judgeScript(await runLocally(one(`- { id: m, type: mount, fstype: vexfs_no_such_fs }`).script));
  assert.match(bad.message, /mount -t vexfs_no_such_fs none .* failed/);
  const left = (await run('bash', ['-c', 'ls -d /tmp/vexfs-check.* 2>/dev/null || true'])).stdout;
  assert.equal(left, '');
});

test('kernel-module: loaded means listed in /proc/modules', async () => {
  // A container may have no /proc/modules: then nothing is loaded, as lsmod would say.
  const first = (await readFile('/proc/modules', 'utf8').catch(() => '')).split('\n')[0]?.split(' ')[0];
  const listed = one(`- { id: l, type: kernel-module, module: vexfs_not_loaded_xyz, expect: { loaded: false } }`);
  assert.equal(judgeScript(await runLocally(listed.script)).ok, true);
  const missing = one(`- { id: l, type: kernel-module, module: vexfs_not_loaded_xyz, expect: { loaded: true } }`);
  assert.deepEqual(judgeScript(await runLocally(missing.script)), { ok: false, message: 'vexfs_not_loaded_xyz is not listed by lsmod' });
  if (first) {
    const loaded = one(`- { id: l, type: kernel-module, module: ${first}, expect: { loaded: true } }`);
    const v = judgeScript(await runLocally(loaded.script));
    assert.equal(v.ok, true, v.message);
    assert.match(v.message, new RegExp(`^${first} listed by lsmod \\(refcount \\S+, version \\S+\\)$`));
  }
});

test('service and mount scripts are valid bash', async () => {
  for (const y of [
    `- { id: s, type: service, unit: vexfs.service, expect: { enabled: true, active: true } }`,
    `- { id: m, type: mount, fstype: vexfs }`,
    `- { id: m2, type: mount, fstype: tmpfs, target: /mnt/x, options: 'size=1m' }`,
    `- { id: k, type: kernel-log }`,
  ]) {
    const r = await run('bash', ['-n', '-c', withLibrary(one(y).script)], { allowFailure: true });
    assert.equal(r.exitCode, 0, `${y}: ${r.stderr}`);
  }
});

test('kernel-log: baseline from the engine, allowed flags masked', async () => {
  const withBase = compileCheck(parseChecks(`- { id: k, type: kernel-log, allow_taint: [O, E] }`, 't')[0]!, { ...vars, taint_baseline: '4096' }).script;
  assert.equal(withBase, 'check_kernel_log --allow-mask 12288 --baseline 4096 -- Oops BUG: WARNING:');
  const noBase = one(`- { id: k, type: kernel-log }`).script;
  assert.equal(noBase, 'check_kernel_log --allow-mask 4096 -- Oops BUG: WARNING:');
  const junk = compileCheck(parseChecks(`- { id: k, type: kernel-log }`, 't')[0]!, { ...vars, taint_baseline: '12; reboot' }).script;
  assert.equal(junk, noBase, 'a baseline that is not a number is no baseline');
  // Runs here too (dmesg may be restricted: then only the taint part is judged).
  const v = judgeScript(await runLocally(noBase));
  assert.equal(typeof v.ok, 'boolean');
});

test('kernel-log runs for real: taint against the baseline, forbidden patterns in dmesg', async () => {
  const now = Number((await readFile('/proc/sys/kernel/tainted', 'utf8')).trim());
  const names = await taintNames(now);
  // Nothing gained since now; the pattern matches no line.
  const same = judgeScript(await runLocally(`check_kernel_log --allow-mask 0 --baseline ${now} -- 'vexfs-no-such-line-xyz'`));
  assert.deepEqual(same, { ok: true, message: `no vexfs-no-such-line-xyz in the kernel log; taint ${names} (gained: none)` });
  const noBase = judgeScript(await runLocally(`check_kernel_log --allow-mask 0 -- 'vexfs-no-such-line-xyz' 'or-this'`));
  assert.deepEqual(noBase, { ok: true, message: `no vexfs-no-such-line-xyz, or-this in the kernel log; taint ${names} (no baseline)` });
  // From a clean baseline every flag set now is gained; allowed only when masked.
  const fromZero = judgeScript(await runLocally(`check_kernel_log --allow-mask 0 --baseline 0 -- 'vexfs-no-such-line-xyz'`));
  assert.deepEqual(fromZero, now === 0 ? same : { ok: false, message: `kernel taint gained ${names} while the checks ran (before: none, now: ${names})` });
  const masked = judgeScript(await runLocally(`check_kernel_log --allow-mask ${now} --baseline 0 -- 'vexfs-no-such-line-xyz'`));
  assert.deepEqual(masked, { ok: true, message: `no vexfs-no-such-line-xyz in the kernel log; taint ${names} (gained: ${names})` });
  // A pattern that matches the kernel's first line, when dmesg is readable here.
  const first = (await run('dmesg', [], { allowFailure: true })).stdout.split('\n')[0] ?? '';
  if (/Linux version/.test(first)) {
    const hit = judgeScript(await runLocally(`check_kernel_log --allow-mask ${now} -- 'vexfs-no-such-line-xyz' 'Linux version'`));
    assert.equal(hit.ok, false);
    assert.match(hit.message, /^kernel log: .*Linux version/);
  }
});

test('bad regular expressions are usage errors naming the check', () => {
  assert.throws(() => one(`- { id: r, type: command, command: x, expect: { stdout_matches: '(' } }`), /check r: bad regular expression/);
});
