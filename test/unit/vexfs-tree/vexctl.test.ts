// vexctl, the example tree's Rust tool: its own tests (cargo test), a release build through
// the tree's Makefile with VERSION=, and the exit codes of the built binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../../helpers/fs.js';

const TREE = resolve(import.meta.dirname, '../../../examples/vexfs');
const IN_CI = process.env.CI === 'true';
const DEBIAN_CARGO = '/usr/bin/cargo';

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = TREE) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, MAKEFLAGS: '', ...env }, timeout: 300_000 });
  return { code: r.status, stdout: r.stdout ?? '', out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

test('cargo test passes for vexctl', (t) => {
  if (!hasCommand('cargo') && !IN_CI) return t.skip('cargo not installed');
  const target = tempDir('vexctl-target-');
  const r = run('cargo', ['test', '--offline', '-p', 'vexctl'], { CARGO_TARGET_DIR: target });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /test result: ok\. [1-9]\d* passed; 0 failed/);
  assert.doesNotMatch(r.out, /test result: .*[1-9]\d* failed/);
});

test('vexctl builds and passes its tests with Debian 12\'s cargo (Rust 1.63), as in the guest', (t) => {
  if (!existsSync(DEBIAN_CARGO) && !IN_CI) return t.skip(`${DEBIAN_CARGO} (Debian package cargo) not installed`);
  const target = tempDir('vexctl-target-deb-');
  // A private CARGO_HOME and Debian's rustc: nothing from a rustup toolchain leaks in.
  const env = { CARGO_TARGET_DIR: target, CARGO_HOME: join(target, 'cargo-home'), RUSTC: '/usr/bin/rustc', RUSTUP_TOOLCHAIN: '' };
  const r = run(DEBIAN_CARGO, ['test', '--offline', '-p', 'vexctl'], env);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /test result: ok\. [1-9]\d* passed; 0 failed/);
});

test('make vexctl VERSION=... builds a release vexctl with that version; exit codes 0/2/3', (t) => {
  if (!hasCommand('cargo') && !IN_CI) return t.skip('cargo not installed');
  const target = tempDir('vexctl-target-rel-');
  const b = run('make', ['--no-print-directory', 'vexctl', 'VERSION=3.1.4-unit', `CARGO_TARGET_DIR=${target}`]);
  assert.equal(b.code, 0, b.out);
  const bin = join(target, 'release/vexctl');

  const v = run(bin, ['--version']);
  assert.equal(v.code, 0, v.out);
  assert.equal(v.stdout, 'vexctl 3.1.4-unit\n');

  const h = run(bin, ['--help']);
  assert.equal(h.code, 0, h.out);
  assert.match(h.stdout, /vexctl status/);
  assert.equal(run(bin, ['no-such-command']).code, 2);

  // Not loaded: an empty sys/proc tree.
  const root = tempDir('vexctl-root-');
  const down = run(bin, ['status'], { VEXCTL_ROOT: root });
  assert.equal(down.code, 3, down.out);
  assert.match(down.stdout, /^module: +not loaded$/m);

  // Loaded with one mount.
  mkdirSync(join(root, 'sys/module/vexfs'), { recursive: true });
  mkdirSync(join(root, 'sys/fs/vexfs'), { recursive: true });
  mkdirSync(join(root, 'proc/self'), { recursive: true });
  writeFileSync(join(root, 'sys/module/vexfs/version'), '3.1.4-unit\n');
  writeFileSync(join(root, 'sys/fs/vexfs/mounts'), '1\n');
  writeFileSync(join(root, 'proc/filesystems'), 'nodev\tsysfs\nnodev\tvexfs\n');
  writeFileSync(join(root, 'proc/self/mounts'), 'none /mnt/vexfs vexfs rw,relatime 0 0\n');
  const up = run(bin, ['status'], { VEXCTL_ROOT: root });
  assert.equal(up.code, 0, up.out);
  assert.match(up.stdout, /^module: +loaded \(version 3\.1\.4-unit\)$/m);
  assert.match(up.stdout, /^filesystem: +vexfs registered$/m);
  assert.match(up.stdout, /^active mounts: 1$/m);
  assert.match(up.stdout, /^ {2}none on \/mnt\/vexfs \(rw,relatime\)$/m);
  const json = JSON.parse(run(bin, ['status', '--json'], { VEXCTL_ROOT: root }).stdout);
  assert.deepEqual(
    { loaded: json.loaded, version: json.version, registered: json.registered, active_mounts: json.active_mounts },
    { loaded: true, version: '3.1.4-unit', registered: true, active_mounts: 1 },
  );
});
