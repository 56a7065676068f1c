// `ci merge` on three shards made by the orchestrator (fake build/validate), as a CI matrix would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mergeShards, type MergeOptions } from '../../../src/ci/merge.js';
import { runCi } from '../../../src/ci/orchestrator.js';
import { PACKAGE_ROOT } from '../../../src/paths.js';
import { silentSink } from '../../../src/pipeline/events.js';
import { tempDir } from '../../helpers/fs.js';
import { fakeDeps, type FakeOptions } from './fakes.js';

const VARIANTS = ['minimal', 'development', 'production'];

async function shards(dir: string, fake: FakeOptions = {}, env: Record<string, string> = {}): Promise<string[]> {
  const out: string[] = [];
  for (const v of VARIANTS) {
    const root = join(dir, 'shards', `ci-${v}`);
    await runCi(
      {
        variants: [v], jobs: 1, failFast: false, artifactsDir: root, force: false,
        buildFlags: { buildDir: join(dir, `build-${v}`), cacheDir: join(dir, 'cache') },
        env: { CI_TAG: 'v1.0.0', CI_BUILD_NUMBER: '123', CI_COMMIT_SHA: 'c'.repeat(40), ...env },
        cwd: dir, signal: new AbortController().signal, emit: silentSink,
      },
      fakeDeps(fake),
    );
    out.push(root);
  }
  return out;
}

function opts(dir: string, shardDirs: string[], over: Partial<MergeOptions> = {}): MergeOptions {
  return { shards: shardDirs, artifactsDir: join(dir, 'merged'), force: false, verify: true, env: {}, cwd: dir, emit: silentSink, ...over };
}

test('three shards merge into one manifest, one checksums file (sha256sum -c passes) and one set of reports', async () => {
  const dir = tempDir('vexfs-merge-');
  const s = await shards(dir);
  const r = await mergeShards(opts(dir, s));
  assert.equal(r.ok, true);
  const out = join(dir, 'merged');
  const m = JSON.parse(readFileSync(join(out, 'build-manifest.json'), 'utf8'));
  assert.equal(m.build_number, '123');
  assert.equal(m.commit_sha, 'c'.repeat(40));
  assert.equal(m.vexfs_version, '1.0.0');
  assert.deepEqual(m.variants, VARIANTS);
  assert.equal(m.ok, true);
  assert.deepEqual(m.images.map((i: { variant: string; shard: string }) => [i.variant, i.shard]), VARIANTS.map((v) => [v, `ci-${v}`]));
  assert.equal(m.shards.length, 3);
  assert.deepEqual(m.stages.map((x: { name: string }) => x.name), ['environment', 'pre-build', 'build', 'validate', 'artifacts', 'report', 'notify', 'merge']);
  assert.equal(m.stages.find((x: { name: string }) => x.name === 'build').detail, '3 shard(s), all ok');

  const sums = spawnSync('sha256sum', ['-c', 'checksums.sha256'], { cwd: out, encoding: 'utf8' });
  assert.equal(sums.status, 0, sums.stdout + sums.stderr);
  assert.equal(sums.stdout.trim().split('\n').length, 27, '9 files (6 image files, 2 SBOMs, provenance) for each of 3 images');
  // Hard links, not copies, when the shards are on the same file system.
  const img = join(out, 'images', 'vexfs-minimal-1.0.0.qcow2');
  assert.equal(statSync(img).ino, statSync(join(s[0]!, 'images', 'vexfs-minimal-1.0.0.qcow2')).ino);

  const junit = readFileSync(join(out, 'reports', 'junit.xml'), 'utf8');
  assert.equal((junit.match(/<testcase /g) ?? []).length, 12);
  assert.equal((junit.match(/<testsuite /g) ?? []).length, 3);
  const v = JSON.parse(readFileSync(join(out, 'reports', 'validation.json'), 'utf8'));
  assert.equal(v.summary.images, 3);
  assert.equal(v.summary.checks.total, 9);
  const html = readFileSync(join(out, 'reports', 'ci-report.html'), 'utf8');
  assert.equal((html.match(/<rect class="span /g) ?? []).length, 18, 'timeline has every variant');
  for (const variant of VARIANTS) assert.ok(existsSync(join(out, 'logs', variant, 'build', '01-environment.log')));
  for (const variant of VARIANTS) assert.ok(existsSync(join(out, 'logs', `ci-ci-${variant}.log`)));
});

test('a failed shard makes the merge fail (exit 1) and shows in every report', async () => {
  const dir = tempDir('vexfs-merge-');
  const s = await shards(dir, { failCheck: ['development'] });
  const r = await mergeShards(opts(dir, s));
  assert.equal(r.ok, false);
  assert.equal(r.manifest.ok, false);
  assert.equal(r.manifest.images[1]!.status, 'validation-failed');
  assert.match(r.manifest.stages.find((x) => x.name === 'validate')!.detail, /ci-development: failed/);
  assert.equal(r.validation.ok, false);
  assert.match(readFileSync(join(dir, 'merged', 'reports', 'junit.xml'), 'utf8'), /<failure/);
});

test('metadata-only shards (images uploaded separately): checksums kept, verified once the images are in place', async () => {
  const dir = tempDir('vexfs-merge-');
  const s = await shards(dir);
  const stash = join(dir, 'stash');
  for (const d of s) {
    cpSync(join(d, 'images'), stash, { recursive: true });
    rmSync(join(d, 'images'), { recursive: true });
  }
  const r = await mergeShards(opts(dir, s));
  assert.equal(r.ok, true);
  assert.equal(r.missingFiles.length, 27);
  const out = join(dir, 'merged');
  cpSync(stash, join(out, 'images'), { recursive: true });
  const sums = spawnSync('sha256sum', ['-c', 'checksums.sha256'], { cwd: out, encoding: 'utf8' });
  assert.equal(sums.status, 0, sums.stderr);
});

test('a corrupted image in a shard is caught; duplicate variants, mixed commits and non-shards are refused', async () => {
  const dir = tempDir('vexfs-merge-');
  const s = await shards(dir);
  writeFileSync(join(s[2]!, 'images', 'vexfs-production-1.0.0.qcow2.gz'), 'corrupted in transfer');
  const r = await mergeShards(opts(dir, s));
  assert.equal(r.ok, false);
  assert.match(r.manifest.stages.find((x) => x.name === 'merge')!.detail, /vexfs-production-1.0.0.qcow2.gz: sha256 [0-9a-f]+, expected [0-9a-f]{64}/);

  await assert.rejects(mergeShards(opts(dir, [s[0]!, s[0]!], { artifactsDir: join(dir, 'm2') })), /variant minimal is in two shards/);
  await assert.rejects(mergeShards(opts(dir, [s[0]!, dir], { artifactsDir: join(dir, 'm3') })), /build-manifest.json: missing/);
  const other = await shards(join(dir, 'other'), {}, { CI_COMMIT_SHA: 'd'.repeat(40) });
  await assert.rejects(mergeShards(opts(dir, [s[0]!, other[1]!], { artifactsDir: join(dir, 'm4') })), /built from different commits/);
  await assert.rejects(mergeShards(opts(dir, [], { artifactsDir: join(dir, 'm5') })), /at least one shard/);
});

test('the CLI: vexfs-image ci merge shards... --artifacts-dir OUT', async () => {
  const dir = tempDir('vexfs-merge-');
  const s = await shards(dir);
  const bin = join(PACKAGE_ROOT, 'bin', 'vexfs-image');
  const r = spawnSync(bin, ['ci', 'merge', ...s, '--artifacts-dir', join(dir, 'cli-out')], { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /vexfs-image CI #123 \(commit cccccccccccc, VexFS 1\.0\.0\): PASSED/);
  assert.match(r.stdout, /^merge\s+ok/m);
  assert.match(r.stdout, /^production\s+passed/m);
  const again = spawnSync(bin, ['ci', 'merge', ...s, '--artifacts-dir', join(dir, 'cli-out')], { cwd: dir, encoding: 'utf8' });
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already holds .* --force|pass --force/);
  const none = spawnSync(bin, ['ci', 'merge'], { cwd: dir, encoding: 'utf8' });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /missing required argument/);
});
