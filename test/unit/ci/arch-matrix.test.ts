// ci's architecture axis (--arch amd64,arm64) and `ci merge` of one shard per architecture, with
// the fake build and validation, and a fake host that has arm64's emulator, firmware and qemu-user
// (unit tests need none of them installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCi, type CiOptions } from '../../../src/ci/orchestrator.js';
import { mergeShards } from '../../../src/ci/merge.js';
import { silentSink } from '../../../src/pipeline/events.js';
import type { Arch } from '../../../src/arch.js';
import { tempDir } from '../../helpers/fs.js';
import { fakeDeps } from './fakes.js';
import { ciOptions } from '../../../src/api.js';
import { summaryMarkdown, summaryText } from '../../../src/ci/summary.js';
import type { BuildPlan } from '../../../src/config/load.js';

/** A PATH and AAVMF files under which arm64 looks installed. */
function fakeArmHost(dir: string): Record<string, string> {
  const bin = join(dir, 'fake-bin');
  mkdirSync(bin, { recursive: true });
  for (const t of ['qemu-system-aarch64', 'qemu-aarch64-static', 'update-binfmts']) {
    writeFileSync(join(bin, t), '#!/bin/sh\nexit 1\n');
    chmodSync(join(bin, t), 0o755);
  }
  for (const f of ['CODE.fd', 'VARS.fd']) writeFileSync(join(dir, f), '');
  return { PATH: `${bin}:${process.env.PATH ?? ''}`, VEXFS_IMAGE_AAVMF_CODE: join(dir, 'CODE.fd'), VEXFS_IMAGE_AAVMF_VARS: join(dir, 'VARS.fd') };
}

function options(dir: string, root: string, arches: Arch[], env: Record<string, string>): CiOptions {
  return {
    variants: ['minimal'], arches, jobs: 1, failFast: false, artifactsDir: root, force: false,
    buildFlags: { buildDir: join(dir, `build-${arches.join('-')}`), cacheDir: join(dir, 'cache') },
    env: { CI_TAG: 'v1.2.3', CI_BUILD_NUMBER: '7', CI_COMMIT_SHA: 'd'.repeat(40), ...env },
    cwd: dir, signal: new AbortController().signal, emit: silentSink,
  };
}

test('--arch amd64,arm64: a record per variant and architecture, names that do not collide, both in checksums.sha256', async () => {
  const dir = tempDir('vexfs-ci-arch-');
  const root = join(dir, 'artifacts');
  const r = await runCi(options(dir, root, ['amd64', 'arm64'], fakeArmHost(dir)), fakeDeps());
  assert.equal(r.status, 'passed');
  const m = JSON.parse(readFileSync(join(root, 'build-manifest.json'), 'utf8'));
  assert.deepEqual(m.images.map((i: { name: string; architecture?: string }) => [i.name, i.architecture ?? 'amd64']), [['vexfs-minimal-1.2.3', 'amd64'], ['vexfs-minimal-1.2.3-arm64', 'arm64']]);
  assert.equal(m.images[0].architecture, undefined, 'amd64 records are as before');
  assert.deepEqual(m.images.map((i: { logs: string }) => i.logs), ['logs/minimal', 'logs/minimal-arm64']);
  const sums = readFileSync(join(root, 'checksums.sha256'), 'utf8');
  assert.match(sums, / images\/vexfs-minimal-1\.2\.3\.qcow2$/m);
  assert.match(sums, / images\/vexfs-minimal-1\.2\.3-arm64\.qcow2$/m);
  assert.equal(spawnSync('sha256sum', ['-c', 'checksums.sha256'], { cwd: root }).status, 0);
  // The image's own manifest (written by the build) says its architecture, which validate reads.
  assert.equal(JSON.parse(readFileSync(join(root, 'images', 'vexfs-minimal-1.2.3-arm64.json'), 'utf8')).architecture, 'arm64');
  assert.equal(r.validation.images.length, 2);
  // The summary's rows name the architecture (two rows reading "minimal" were seen in a real run).
  const rows = summaryText(m).split('\n').filter((l) => /^minimal/.test(l)).map((l) => l.split(/\s+/)[0]);
  assert.deepEqual(rows, ['minimal', 'minimal-arm64']);
  assert.match(summaryMarkdown(m), /^\| minimal-arm64 \|/m);
});

test('ci merge: one shard per architecture merges; the same variant and architecture in two shards is refused', async () => {
  const dir = tempDir('vexfs-ci-arch-merge-');
  const env = fakeArmHost(dir);
  const a = join(dir, 'shard-amd64');
  const b = join(dir, 'shard-arm64');
  await runCi(options(dir, a, ['amd64'], env), fakeDeps());
  await runCi(options(dir, b, ['arm64'], env), fakeDeps());
  const merged = await mergeShards({ shards: [a, b], artifactsDir: join(dir, 'merged'), force: false, verify: true, env: {}, cwd: dir, emit: silentSink });
  assert.equal(merged.ok, true);
  const m = JSON.parse(readFileSync(join(dir, 'merged', 'build-manifest.json'), 'utf8'));
  assert.deepEqual(m.images.map((i: { name: string }) => i.name), ['vexfs-minimal-1.2.3', 'vexfs-minimal-1.2.3-arm64']);
  assert.equal(spawnSync('sha256sum', ['-c', 'checksums.sha256'], { cwd: join(dir, 'merged') }).status, 0);
  const c = join(dir, 'shard-arm64-again');
  await runCi(options(dir, c, ['arm64'], env), fakeDeps());
  await assert.rejects(mergeShards({ shards: [b, c], artifactsDir: join(dir, 'merged3'), force: false, verify: true, env: {}, cwd: dir, emit: silentSink }), /variant minimal-arm64 is in two shards/);
});

test('the API (`vexfs-image ci`) hands the architecture axis to the orchestrator: `ci --arch arm64` once built amd64', () => {
  assert.deepEqual(ciOptions({ arches: ['arm64'] }).arches, ['arm64']);
  assert.deepEqual(ciOptions({ arches: ['amd64', 'arm64'], variants: ['minimal'] }).arches, ['amd64', 'arm64']);
  assert.equal(ciOptions({}).arches, undefined, 'no --arch: the config\'s or amd64');
});

test('ci builds in full (never from a cached image): its plans say incremental: false', async () => {
  const dir = tempDir('vexfs-ci-full-');
  const plans: BuildPlan[] = [];
  const r = await runCi(options(dir, join(dir, 'artifacts'), ['amd64'], {}), fakeDeps({ plans }));
  assert.equal(r.status, 'passed');
  assert.ok(plans.length > 0);
  assert.deepEqual(plans.map((p) => p.incremental), plans.map(() => false));
});
