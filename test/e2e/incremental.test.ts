// Incremental builds, with real VMs (builder/incremental/). A full build of minimal from a copy
// of the example records its image in the cache; after a one-line change to vexfs.c, the next
// build (another output directory, so the first image stays to compare) starts from that image: the payload compiled on the host in the base's root, installed
// by a VM booted straight into the image's kernel, then finalised. The new image differs from the
// first only in vexfs.ko and in vexfs.conf, whose build_date follows the new commit (`vexfs-image
// diff`: vexctl, whose source did not change, is byte for byte the build VM's), and validate passes
// every check on it.
// Behind VEXFS_E2E_INCREMENTAL=1 (one more full build, ~3 min): the cache entry corrupted, the
// next build notices, does not use it, and builds in full; that full build of the changed source
// and the incremental one differ only in the entries two full builds differ in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/fs.js';
import { defaultCacheDir, PACKAGE_ROOT } from '../../src/paths.js';
import { diffImages, diffText } from '../../src/supply/diff.js';
import { EXPECTED_DIFFERENCES } from '../helpers/repro.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');
const VERSION = '0.9.3-incr';
const FULL = process.env.VEXFS_E2E_INCREMENTAL === '1';
const missing = ['qemu-system-x86_64', 'debugfs', 'sfdisk', 'unshare'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
if (!existsSync('/bin/busybox')) missing.push('busybox (busybox-static)');
if (process.getuid?.() !== 0) missing.push('root');

const work = tempDir('vexfs-incr-e2e-');
const src = join(work, 'vexfs');
cpSync(join(PACKAGE_ROOT, 'examples/vexfs'), src, { recursive: true, filter: (p) => !/\/target(\/|$)/.test(p.slice(PACKAGE_ROOT.length)) });
/** A commit of the tree at a given time: the build's SOURCE_DATE_EPOCH, so {{build_date}} in vexfs.conf. */
function commit(date: string): void {
  const env = { ...process.env, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' };
  for (const args of [['init', '-q'], ['add', '-A'], ['commit', '-qm', date]]) {
    const r = spawnSync('git', args, { cwd: src, env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
}
commit('2026-01-01T00:00:00Z');
// A cache of its own (its entries are this test's), sharing the user cache's bases, the base roots
// the host compiles in, and the accelerator probe: nothing is built twice. (Not the snapshots: a
// snapshot's disk is backed by the user cache's base, a file outside this cache, which the overlay
// step's backing-chain check refuses.)
const cache = join(work, 'cache');
mkdirSync(cache, { recursive: true });
for (const name of ['bases', 'quick-roots', 'accel-probe.json']) {
  mkdirSync(defaultCacheDir(), { recursive: true });
  const from = join(defaultCacheDir(), name);
  if (name !== 'accel-probe.json') mkdirSync(from, { recursive: true });
  if (existsSync(from)) symlinkSync(from, join(cache, name));
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(BIN, args, { cwd: work, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 1_800_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}
const build = (out: string, ...extra: string[]): ReturnType<typeof cli> =>
  cli(['build', '--variant', 'minimal', '--version', VERSION, '--source', src, '--output-dir', out, '--build-dir', join(work, 'build'), '--cache-dir', cache, '--timeout', '1500', ...extra]);
const [FIRST, SECOND, THIRD] = ['first', 'second', 'third'].map((d) => join(work, d)) as [string, string, string];
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the manifest as published (JSON), read field by field
const manifestOf = (out: string): Record<string, any> => JSON.parse(readFileSync(join(out, `vexfs-minimal-${VERSION}.json`), 'utf8'));
const imageIn = (out: string): string => join(out, `vexfs-minimal-${VERSION}.qcow2`);

test('a one-line change to vexfs.c: the next build starts from the cached image and replaces only the module', { timeout: 3_000_000, skip: missing.length > 0 && process.env.CI !== 'true' && `missing: ${missing.join(', ')}` }, async (t) => {
  assert.deepEqual(missing, [], 'what the incremental build needs on this machine');
  const cold = build(FIRST);
  assert.equal(cold.status, 0, cold.stderr.slice(-3000));
  t.diagnostic(`full build: ${(cold.ms / 1000).toFixed(1)} s`);
  assert.match(cold.stderr, /cached for incremental builds/);
  assert.equal(manifestOf(FIRST).incremental, undefined);

  // The one-line change: a message the module prints on load.
  const c = join(src, 'vexfs.c');
  const text = readFileSync(c, 'utf8');
  assert.ok(text.includes('pr_info("version %s loaded\\n"'));
  writeFileSync(c, text.replace('pr_info("version %s loaded\\n"', 'pr_info("version %s loaded (incremental)\\n"'));
  // A new commit: a new build_date in vexfs.conf, which the incremental build writes again.
  commit('2026-02-01T00:00:00Z');
  // Another output directory: the first image stays, to compare with.
  const inc = build(SECOND);
  assert.equal(inc.status, 0, inc.stderr.slice(-3000));
  t.diagnostic(`one-line change, incremental build: ${(inc.ms / 1000).toFixed(1)} s`);
  const m0 = manifestOf(FIRST);
  const m = manifestOf(SECOND);
  assert.equal(m.incremental?.from_image_sha256, m0.files.image.sha256, 'started from the first image');
  assert.ok(m.stage_times_ms.install !== undefined && m.stage_times_ms['build-in-vm'] === undefined, `stages: ${Object.keys(m.stage_times_ms).join(', ')}`);
  assert.match(readFileSync(join(SECOND, `vexfs-minimal-${VERSION}.manifest`), 'utf8'), /Built from: +image sha256 [0-9a-f]{64} \(incremental/);
  assert.notEqual(m.module.sha256, m0.module.sha256, 'a new module');
  assert.equal(m.vexctl.sha256, m0.vexctl.sha256, 'vexctl (unchanged source) built on the host is the build VM\'s, byte for byte');
  assert.equal(m.installed_packages, m0.installed_packages);

  const d = await diffImages(imageIn(FIRST), imageIn(SECOND), { tmpDir: tempDir('vexfs-incr-diff-') });
  t.diagnostic(diffText(d));
  assert.deepEqual(d.packages, []);
  assert.deepEqual(d.files.map((f) => f.path).sort(), ['/etc/vexfs/vexfs.conf', `/usr/lib/modules/${m.kernel}/extra/vexfs/vexfs.ko`], 'only the module and the config file (its build_date follows the commit) differ');
  const conf = (mm: typeof m): string => mm.artifacts.find((a: { path: string }) => a.path === '/etc/vexfs/vexfs.conf').sha256;
  assert.notEqual(conf(m), conf(m0), 'the manifest hashes the new vexfs.conf');

  // The entry is now the new image: the next change starts from it.
  const entries = readdirSync(join(cache, 'incremental')).filter((n) => !n.startsWith('.') && n !== 'trees');
  assert.equal(entries.length, 1);
  assert.equal(JSON.parse(readFileSync(join(cache, 'incremental', entries[0]!, 'entry.json'), 'utf8')).image.sha256, m.files.image.sha256);

  // Validate: a real boot of the deployable image, every check.
  const v = cli(['validate', imageIn(SECOND), '--report-dir', join(work, 'reports')]);
  assert.equal(v.status, 0, v.stdout.slice(-3000) + v.stderr.slice(-2000));
  const report = JSON.parse(readFileSync(join(work, 'reports', 'validation.json'), 'utf8'));
  assert.equal(report.images[0].status, 'passed');
  assert.equal(report.images[0].summary.failed + report.images[0].summary.errors, 0);
  t.diagnostic(`validate: ${(v.ms / 1000).toFixed(1)} s, ${report.images[0].summary.passed}/${report.images[0].summary.total} checks`);
});

test('a corrupt entry is never used; a full build of the changed source is the incremental image', { timeout: 3_000_000, skip: !FULL && 'set VEXFS_E2E_INCREMENTAL=1 (one more full build)' }, async (t) => {
  const m = manifestOf(SECOND);
  const entry = join(cache, 'incremental', readdirSync(join(cache, 'incremental')).filter((n) => !n.startsWith('.') && n !== 'trees')[0]!);
  // A corrupt entry: its image replaced by a damaged copy (editing it would damage the published
  // image it is a hard link to).
  const img = join(entry, 'image.qcow2');
  const bytes = readFileSync(img);
  bytes[bytes.length - 1]! ^= 0xff;
  unlinkSync(img);
  writeFileSync(img, bytes);
  const full = build(THIRD);
  assert.equal(full.status, 0, full.stderr.slice(-3000));
  assert.match(full.stderr, /a full build: the cached image is not the one recorded/);
  const m3 = manifestOf(THIRD);
  assert.equal(m3.incremental, undefined);
  t.diagnostic(`full build of the changed source: ${(full.ms / 1000).toFixed(1)} s`);
  assert.equal(m3.module.sha256, m.module.sha256, 'the host-built module is the build VM\'s, byte for byte');
  assert.equal(m3.vexctl.sha256, m.vexctl.sha256);
  const d = await diffImages(imageIn(SECOND), imageIn(THIRD), { tmpDir: tempDir('vexfs-incr-diff-') });
  t.diagnostic(diffText(d));
  assert.deepEqual(d.packages, []);
  const unexpected = d.files.filter((f) => !EXPECTED_DIFFERENCES.some(([re]) => re.test(f.path)));
  assert.deepEqual(unexpected.map((f) => `${f.changes.join(',')} ${f.path}`), [], 'the incremental image is the full build\'s but for what two full builds differ in');
});
