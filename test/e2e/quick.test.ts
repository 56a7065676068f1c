// End-to-end: `vexfs-image test`, the quick module test, on the real debian-13 base (the build's
// minimal package set: kernel, headers, gcc, cargo): the example passes with JSON and JUnit
// reports; a module that WARNs fails with exit 1; bad input exits 2 before anything starts.
// Needs root, QEMU, debugfs, busybox-static; skips without them, except in CI (CI=true).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/fs.js';
import { PACKAGE_ROOT } from '../../src/paths.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');
const VERSION = '0.9.2-quick';
const missing = ['qemu-system-x86_64', 'debugfs', 'sfdisk', 'unshare'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
if (!existsSync('/bin/busybox')) missing.push('busybox (busybox-static)');
if (process.getuid?.() !== 0) missing.push('root');

function cli(args: string[]): { status: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(BIN, args, { cwd: PACKAGE_ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 1_200_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

function guard(t: { skip: (m: string) => void }): boolean {
  if (!missing.length) return true;
  if (process.env.CI === 'true') assert.fail(`missing on this CI machine: ${missing.join(', ')}`);
  t.skip(`missing: ${missing.join(', ')}`);
  return false;
}

const dir = tempDir('vexfs-quick-e2e-');
const tree = join(dir, 'vexfs');
cpSync(join(PACKAGE_ROOT, 'examples/vexfs'), tree, { recursive: true, filter: (p) => !/\/target(\/|$)/.test(p.slice(PACKAGE_ROOT.length)) });

test('vexfs-image test: the example builds against the image kernel\'s headers, loads, mounts, unloads; JSON and JUnit reports', { timeout: 1_500_000 }, (t) => {
  if (!guard(t)) return;
  const reports = join(dir, 'reports');
  const r = cli(['test', '--source', tree, '--version', VERSION, '--report-dir', reports]);
  t.diagnostic(`first run (may extract the base's root once): ${r.ms} ms`);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^PASS: (\d+)\/\1 checks on 6\.12\.\S+-cloud-amd64 in /m);
  const report = JSON.parse(readFileSync(join(reports, 'validation.json'), 'utf8'));
  assert.equal(report.ok, true);
  const ids = report.images[0].checks.map((c: { id: string; status: string }) => `${c.id}:${c.status}`);
  for (const id of ['build', 'module-load-vexfs', 'module-version-vexfs', 'tool-version-vexctl', 'fs-mount-vexfs', 'fs-big-vexfs', 'module-busy-vexfs', 'fs-umount-vexfs', 'module-unload-vexfs', 'module-gone-vexfs', 'kernel-log', 'console-clean']) {
    assert.ok(ids.includes(`${id}:passed`), `${id} did not pass: ${ids.join(' ')}`);
  }
  const junit = readFileSync(join(reports, 'junit.xml'), 'utf8');
  assert.match(junit, /<testsuites[^>]* failures="0"/);
  assert.match(readFileSync(join(reports, 'serial.log'), 'utf8'), new RegExp(`QUICK-CHECK passed module-version-vexfs vexfs /sys/module/vexfs/version is ${VERSION.replace(/\./g, '\\.')}`));

  // A warm rerun after a one-line edit: the edit-to-result loop.
  writeFileSync(join(tree, 'vexfs.c'), `${readFileSync(join(tree, 'vexfs.c'), 'utf8')}/* edited */\n`);
  const again = cli(['test', '--source', tree, '--version', VERSION, '--report-dir', reports]);
  assert.equal(again.status, 0, again.stdout + again.stderr);
  console.log(`# quick test, one-line edit -> result: ${again.ms} ms (${again.stdout.split('\n')[0]})`);
});

test('vexfs-image test fails (exit 1) on a module that WARNs, and says which check', { timeout: 900_000 }, (t) => {
  if (!guard(t)) return;
  const broken = join(dir, 'broken');
  cpSync(tree, broken, { recursive: true });
  const f = join(broken, 'vexfs.c');
  const src = readFileSync(f, 'utf8');
  const bad = src.replace('\tatomic_inc(&vexfs_mounts);\n', '\tatomic_inc(&vexfs_mounts);\n\tWARN_ON(1);\n');
  assert.notEqual(bad, src, 'the fault was not injected');
  writeFileSync(f, bad);
  const reports = join(dir, 'broken-reports');
  const r = cli(['test', '--source', broken, '--version', VERSION, '--report-dir', reports]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^FAIL: /m);
  assert.match(r.stdout, /failed: kernel-log: /);
  const report = JSON.parse(readFileSync(join(reports, 'validation.json'), 'utf8'));
  assert.equal(report.ok, false);
  assert.match(readFileSync(join(reports, 'junit.xml'), 'utf8'), /<failure/);
});

test('vexfs-image test: bad input exits 2 with one line, before anything starts', (t) => {
  if (!guard(t)) return;
  const cases: Array<[string[], RegExp]> = [
    [['test', join(dir, 'nope.qcow2')], /image .*nope\.qcow2 does not exist/],
    [['test', '--source', join(dir, 'nope')], /source directory .* does not exist/],
    [['test', '--timeout', '0'], /--timeout must be a whole number/],
    [['test', '--format', 'pdf'], /unknown report format "pdf"/],
  ];
  for (const [args, re] of cases) {
    const r = cli([...args, '--report-dir', join(dir, 'bad-reports')]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.ok(!existsSync(join(dir, 'bad-reports')), `${args.join(' ')} wrote reports`);
  }
});
