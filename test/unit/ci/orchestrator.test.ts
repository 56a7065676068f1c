// The CI orchestrator with fake build/validate: stages, manifest, checksums, reports,
// concurrency, keep-going vs --fail-fast, notification failures, exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCi, type CiOptions } from '../../../src/ci/orchestrator.js';
import { silentSink } from '../../../src/pipeline/events.js';
import { tempDir } from '../../helpers/fs.js';
import { fakeDeps, type FakeOptions } from './fakes.js';
import type { CiDeps } from '../../../src/ci/orchestrator.js';

function options(dir: string, over: Partial<CiOptions> = {}): CiOptions {
  return {
    variants: ['minimal,production'],
    jobs: 1,
    failFast: false,
    artifactsDir: join(dir, 'artifacts'),
    force: false,
    buildFlags: { buildDir: join(dir, 'build'), cacheDir: join(dir, 'cache') },
    env: { CI_TAG: 'v1.2.3', CI_BUILD_NUMBER: '123', CI_COMMIT_SHA: 'b'.repeat(40) },
    cwd: dir,
    signal: new AbortController().signal,
    emit: silentSink,
    ...over,
  };
}

async function run(over: Partial<CiOptions> = {}, fake: FakeOptions = {}, deps: Partial<CiDeps> = {}) {
  const dir = tempDir('vexfs-ci-');
  const r = await runCi(options(dir, over), fakeDeps(fake, deps));
  return { dir, r, root: join(dir, 'artifacts') };
}

test('two variants: manifest fields, checksums verify with sha256sum -c, reports agree', async () => {
  const { r, root } = await run();
  assert.equal(r.status, 'passed');
  const m = JSON.parse(readFileSync(join(root, 'build-manifest.json'), 'utf8'));
  assert.equal(m.build_number, '123');
  assert.equal(m.commit_sha, 'b'.repeat(40));
  assert.equal(m.vexfs_version, '1.2.3');
  assert.equal(m.tag, 'v1.2.3');
  assert.deepEqual(m.variants, ['minimal', 'production']);
  assert.equal(m.ok, true);
  assert.deepEqual(m.stages.map((s: { name: string }) => s.name), ['environment', 'pre-build', 'build', 'validate', 'artifacts', 'report', 'notify']);
  assert.deepEqual(m.stages.map((s: { status: string }) => s.status), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'skipped']);
  for (const s of m.stages.filter((x: { status: string }) => x.status === 'ok')) assert.equal(typeof s.duration_ms, 'number');
  for (const [i, v] of ['minimal', 'production'].entries()) {
    const img = m.images[i];
    assert.equal(img.variant, v);
    assert.equal(img.name, `vexfs-${v}-1.2.3`);
    assert.equal(img.status, 'passed');
    assert.deepEqual(img.files.map((f: { name: string }) => f.name).sort(), [`vexfs-${v}-1.2.3.cdx.json`, `vexfs-${v}-1.2.3.intoto.json`, `vexfs-${v}-1.2.3.json`, `vexfs-${v}-1.2.3.manifest`, `vexfs-${v}-1.2.3.qcow2`, `vexfs-${v}-1.2.3.qcow2.gz`, `vexfs-${v}-1.2.3.qcow2.gz.sha256`, `vexfs-${v}-1.2.3.qcow2.sha256`, `vexfs-${v}-1.2.3.spdx.json`]);
    for (const f of img.files) {
      assert.match(f.sha256, /^[0-9a-f]{64}$/);
      assert.equal(f.size, readFileSync(join(root, f.path)).length);
    }
    assert.equal(img.validation.status, 'passed');
    assert.deepEqual(img.validation.summary, { total: 3, passed: 3, failed: 0, warnings: 0, skipped: 0, errors: 0 });
    assert.deepEqual(Object.keys(img.stage_durations_ms.build), ['environment', 'boot', 'build-in-vm', 'finalise']);
    assert.deepEqual(Object.keys(img.stage_durations_ms.validate), ['boot', 'checks']);
    assert.equal(img.timeline.length, 6);
    assert.equal(img.logs, `logs/${v}`);
    assert.ok(existsSync(join(root, 'logs', v, 'build', '01-environment.log')), 'build log copied');
  }
  const sums = spawnSync('sha256sum', ['-c', 'checksums.sha256'], { cwd: root, encoding: 'utf8' });
  assert.equal(sums.status, 0, sums.stdout + sums.stderr);
  // Six image files and three supply-chain files (SBOMs, provenance) per image.
  assert.equal(sums.stdout.trim().split('\n').length, 18);
  assert.match(readFileSync(join(root, 'checksums.sha256'), 'utf8'), /^[0-9a-f]{64} {2}images\/vexfs-minimal-1\.2\.3\.intoto\.json$/m);
  const junit = readFileSync(join(root, 'reports', 'junit.xml'), 'utf8');
  assert.match(junit, /<testsuites/);
  assert.equal((junit.match(/<testcase /g) ?? []).length, 8, 'a boot testcase and 3 checks per image');
  assert.match(junit, /<testsuites [^>]*tests="8" failures="0" errors="0"/);
  const html = readFileSync(join(root, 'reports', 'ci-report.html'), 'utf8');
  assert.match(html, /<svg[^>]*vexfs-timeline/);
  assert.equal((html.match(/<rect class="span /g) ?? []).length, 12);
  const v = JSON.parse(readFileSync(join(root, 'reports', 'validation.json'), 'utf8'));
  assert.equal(v.summary.images, 2);
  assert.equal(v.summary.checks.total, 6);
  assert.match(readFileSync(join(root, 'reports', 'ci-summary.md'), 'utf8'), /\| build \| ok \|/);
  assert.match(readFileSync(join(root, 'logs', 'ci.log'), 'utf8'), /\[minimal\] passed/);
});

test('keeps going after a failed build by default, reports everything, exit 1', async () => {
  const { r, root } = await run({ variants: ['minimal', 'development', 'production'] }, { failBuild: ['development'] });
  assert.equal(r.status, 'failed');
  const m = r.manifest;
  assert.deepEqual(m.images.map((i) => i.status), ['passed', 'build-failed', 'passed']);
  assert.match(m.images[1]!.build.error!, /^build-in-vm: the guest build \(make vm-build\) failed/);
  assert.deepEqual(m.images[1]!.files, []);
  assert.equal(m.stages.find((s) => s.name === 'build')!.status, 'failed');
  assert.equal(m.ok, false);
  // The failed build is in the validation report (and the JUnit) as an error, not silently absent.
  assert.equal(r.validation.images.length, 3);
  assert.equal(r.validation.images[1]!.error?.kind, 'build failed');
  const sums = spawnSync('sha256sum', ['-c', 'checksums.sha256'], { cwd: root, encoding: 'utf8' });
  assert.equal(sums.status, 0, sums.stderr);
});

test('a failing check fails the run (exit 1) with the check named', async () => {
  const { r } = await run({ variants: ['minimal'] }, { failCheck: ['minimal'] });
  assert.equal(r.status, 'failed');
  assert.equal(r.manifest.images[0]!.status, 'validation-failed');
  assert.match(r.manifest.images[0]!.validation.error!, /vexctl-version/);
});

test('--fail-fast stops at the first failure: the rest is cancelled', async () => {
  const { r } = await run({ variants: ['minimal', 'development', 'production'], failFast: true }, { failBuild: ['minimal'] });
  assert.equal(r.status, 'failed');
  assert.deepEqual(r.manifest.images.map((i) => i.status), ['build-failed', 'cancelled', 'cancelled']);
  assert.equal(r.manifest.images[1]!.build.status, 'not-run');
});

test('--fail-fast with --jobs 2 interrupts the variant running alongside', async () => {
  const trace: Array<[string, string, number]> = [];
  const { r } = await run({ variants: ['minimal', 'production'], failFast: true, jobs: 2 }, { failBuild: ['minimal'], stepMs: 40, trace });
  assert.equal(r.status, 'failed');
  const prod = r.manifest.images[1]!;
  assert.equal(prod.status, 'cancelled');
  assert.equal(prod.build.status, 'cancelled');
});

test('--jobs 2 runs two variants at the same time; --jobs 1 one after the other', async () => {
  const overlap = (trace: Array<[string, string, number]>): boolean => {
    const s = (v: string, e: string) => trace.find((t) => t[0] === v && t[1] === e)![2];
    return s('production', 'start') < s('minimal', 'end') && s('minimal', 'start') < s('production', 'end');
  };
  const t2: Array<[string, string, number]> = [];
  await run({ jobs: 2 }, { stepMs: 30, trace: t2 });
  assert.ok(overlap(t2), `no overlap with --jobs 2: ${JSON.stringify(t2)}`);
  const t1: Array<[string, string, number]> = [];
  await run({ jobs: 1 }, { stepMs: 10, trace: t1 });
  assert.ok(!overlap(t1), `overlap with --jobs 1: ${JSON.stringify(t1)}`);
});

test('a failed notification is reported but does not fail the pipeline', async () => {
  const { r } = await run({ variants: ['minimal'], notifyUrl: 'http://127.0.0.1:9/hook' }, {}, {
    notify: async (url) => ({ url, ok: false, status: 500, error: 'HTTP 500 Internal Server Error', duration_ms: 3 }),
  });
  assert.equal(r.status, 'passed');
  assert.equal(r.manifest.ok, true);
  const n = r.manifest.stages.find((s) => s.name === 'notify')!;
  assert.equal(n.status, 'failed');
  assert.match(n.detail, /HTTP 500/);
  assert.equal(r.manifest.notification?.ok, false);
});

test('the notification gets a Slack-compatible summary; VEXFS_NOTIFY_URL is honoured', async () => {
  const sent: Array<{ url: string; payload: { text: string; status: string } }> = [];
  const { r } = await run({ variants: ['minimal'], env: { CI_BUILD_NUMBER: '7', VEXFS_NOTIFY_URL: 'http://hook.example/x' } }, {}, {
    notify: async (url, payload) => {
      sent.push({ url, payload: payload as { text: string; status: string } });
      return { url, ok: true, status: 200, duration_ms: 1 };
    },
  });
  assert.equal(r.status, 'passed');
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.url, 'http://hook.example/x');
  assert.match(sent[0]!.payload.text, /CI #7 .*passed, 1\/1 variants/);
  assert.equal(sent[0]!.payload.status, 'success');
});

test('pre-build failures: unknown variant and a source without vm-build exit 2, bad guest scripts exit 1', async () => {
  const { r } = await run({ variants: ['nope'] });
  assert.equal(r.status, 'bad-input');
  const pre = r.manifest.stages.find((s) => s.name === 'pre-build')!;
  assert.equal(pre.status, 'failed');
  assert.match(pre.detail, /unknown variant "nope"/);
  assert.equal(r.manifest.stages.find((s) => s.name === 'build')!.status, 'skipped');
  assert.ok(existsSync(join(r.artifactsDir, 'build-manifest.json')));

  const src = tempDir('vexfs-src-');
  writeFileSync(join(src, 'Makefile'), 'all:\n\ttrue\n');
  const noTarget = await run({ variants: ['minimal'], buildFlags: { source: src, buildDir: join(src, 'build') } });
  assert.equal(noTarget.r.status, 'bad-input');
  assert.match(noTarget.r.manifest.stages.find((s) => s.name === 'pre-build')!.detail, /no vm-build target/);

  const bad = await run({ variants: ['minimal'] }, {}, { checkScripts: async () => { throw new Error('guest scripts do not parse (bash -n): build/x.sh'); } });
  assert.equal(bad.r.status, 'failed');
  assert.match(bad.r.manifest.stages.find((s) => s.name === 'pre-build')!.detail, /bash -n/);
});

test('an environment that is not ready fails the run before any build', async () => {
  let builds = 0;
  const { r } = await run({}, {}, {
    doctor: async () => ({ ok: false, tools: [{ name: 'qemu-img', found: false, debPackage: 'qemu-utils' }], missingPackages: ['qemu-utils'], ms: 1 }) as never,
    build: async () => {
      builds++;
      throw new Error('unreachable');
    },
  });
  assert.equal(r.status, 'failed');
  assert.equal(builds, 0);
  assert.match(r.manifest.stages[0]!.detail, /missing host tools: qemu-img/);
});

test('an artifacts directory from an earlier run is refused without --force, replaced with it', async () => {
  const dir = tempDir('vexfs-ci-');
  const o = options(dir, { variants: ['minimal'] });
  await runCi(o, fakeDeps());
  await assert.rejects(runCi(o, fakeDeps()), /already holds .*--force|already holds/);
  const again = await runCi({ ...o, force: true }, fakeDeps());
  assert.equal(again.status, 'passed');
});

test('an interrupt cancels the builds, still writes the manifest, skips the notification', async () => {
  const ac = new AbortController();
  const dir = tempDir('vexfs-ci-');
  const p = runCi(options(dir, { signal: ac.signal, notifyUrl: 'http://127.0.0.1:9/' }), fakeDeps({ stepMs: 200 }));
  setTimeout(() => ac.abort(), 50);
  const r = await p;
  assert.notEqual(r.status, 'passed');
  assert.ok(r.manifest.images.every((i) => i.status === 'cancelled'));
  assert.equal(r.manifest.stages.find((s) => s.name === 'notify')!.detail, 'interrupted');
  assert.ok(existsSync(join(r.artifactsDir, 'build-manifest.json')));
});

test('--jobs N without --cpus gives each VM its share of the cores; --cpus wins', async () => {
  const seen = async (over: Partial<CiOptions>): Promise<{ build: number[]; validate: Array<number | undefined> }> => {
    const build: number[] = [];
    const validate: Array<number | undefined> = [];
    const base = fakeDeps();
    await run({ hostCpus: 2, ...over }, {}, {
      build: async (plan, o) => (build.push(plan.cpus), base.build(plan, o)),
      makeValidate: (setup) => (validate.push(setup.cpus), base.makeValidate(setup)),
    });
    return { build, validate };
  };
  assert.deepEqual(await seen({ jobs: 2 }), { build: [1, 1], validate: [1] });
  assert.deepEqual(await seen({ jobs: 1 }), { build: [2, 2], validate: [undefined] });
  const dir = tempDir('vexfs-ci-');
  assert.deepEqual(await seen({ jobs: 2, buildFlags: { buildDir: join(dir, 'b'), cacheDir: join(dir, 'c'), cpus: 2 } }), { build: [2, 2], validate: [2] });
});

test('errors are shortened for the summary: the failed step, the program instead of its arguments', async () => {
  const { shortError } = await import('../../../src/ci/variant-run.js');
  assert.equal(
    shortError(new Error('ssh -i /x/id -p 1 -o A=b vexfs@127.0.0.1 -- f=$(mktemp) && cat did not finish within 142.961 s\n    tail'), 'build-in-vm'),
    'build-in-vm: ssh … did not finish within 142.961 s\n    tail',
  );
  assert.equal(shortError(new Error('qemu-img convert -O qcow2 a b exited with code 1'), undefined), 'qemu-img … exited with code 1');
  assert.equal(shortError(new Error('plain message')), 'plain message');
});

test('--profile: each variant validated under each profile, a report row per pair, the variant fails if one row does', async () => {
  const profiles = [
    { label: 'bios-virtio-blk-2048m-2cpu', choice: { firmware: 'bios', diskBus: 'virtio-blk', memoryMb: 2048, cpus: 2 }, hardware: { firmware: 'bios', diskBus: 'virtio-blk' } },
    { label: 'uefi-nvme-512m-2cpu', choice: { firmware: 'uefi', diskBus: 'nvme', memoryMb: 512, cpus: 2 }, hardware: { firmware: 'uefi', diskBus: 'nvme', uefi: { code: '/c', varsTemplate: '/v' } } },
  ] as const;
  const { r, root } = await run({ variants: ['minimal'], profiles: profiles.map((p) => ({ ...p, choice: { ...p.choice }, hardware: { ...p.hardware } })) }, { failProfile: ['uefi-nvme-512m-2cpu'] });
  assert.equal(r.status, 'failed');
  const report = JSON.parse(readFileSync(join(root, 'reports', 'validation.json'), 'utf8')) as { images: Array<{ name: string; profile?: string; status: string }> };
  assert.deepEqual(report.images.map((i) => [i.name, i.profile, i.status]), [
    ['vexfs-minimal-1.2.3', 'bios-virtio-blk-2048m-2cpu', 'passed'],
    ['vexfs-minimal-1.2.3', 'uefi-nvme-512m-2cpu', 'failed'],
  ]);
  const junit = readFileSync(join(root, 'reports', 'junit.xml'), 'utf8');
  assert.match(junit, /classname="minimal\.uefi-nvme-512m-2cpu\.vexfs"/);
  assert.match(junit, /classname="minimal\.bios-virtio-blk-2048m-2cpu\.vexfs"/);
  const m = JSON.parse(readFileSync(join(root, 'build-manifest.json'), 'utf8'));
  assert.equal(m.images[0].validation.status, 'failed');
  assert.match(m.images[0].validation.error, /\[uefi-nvme-512m-2cpu\]/);
  assert.equal(m.images[0].validation.summary.total, 6, 'checks of both rows summed');
});
