// End-to-end: build the minimal image of the bundled example on the debian-13 base, then check
// its artifacts; bad input fails fast and leaves nothing behind. (Booting the result and
// proving VexFS works in it: test/e2e/validate.test.ts, on the same cached image.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureBuiltImage } from '../helpers/built-image.js';
import { tempDir } from '../helpers/fs.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { checkSupplyFiles } from '../helpers/supply-check.js';
import { diffImages, diffText } from '../../src/supply/diff.js';
import { EXPECTED_DIFFERENCES } from '../helpers/repro.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');

function cli(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BIN, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 900_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function qemuProcesses(tag: string): string[] {
  const r = spawnSync('pgrep', ['-af', `qemu-system-x86_64.*${tag}`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

test('build --variant minimal produces a verified image, checksums and a complete manifest', { timeout: 1_800_000 }, async (t) => {
  const built = await ensureBuiltImage('minimal');
  t.diagnostic(built.buildMs === undefined ? 'image from the test cache' : `built in ${(built.buildMs / 1000).toFixed(0)} s`);
  const files = readdirSync(built.dir).sort();
  const n = built.name;
  for (const f of [`${n}.qcow2`, `${n}.qcow2.gz`, `${n}.qcow2.sha256`, `${n}.qcow2.gz.sha256`, `${n}.json`, `${n}.manifest`]) {
    assert.ok(files.includes(f), `missing ${f} in ${files.join(', ')}`);
  }
  assert.ok(!files.some((f) => f.startsWith('.')), `leftover partial files: ${files.join(', ')}`);

  const check = spawnSync('sha256sum', ['-c', `${n}.qcow2.sha256`, `${n}.qcow2.gz.sha256`], { cwd: built.dir, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);

  const gz = spawnSync('gzip', ['-t', `${n}.qcow2.gz`], { cwd: built.dir });
  assert.equal(gz.status, 0, 'gzip -t failed');

  const m = JSON.parse(readFileSync(join(built.dir, `${n}.json`), 'utf8'));
  assert.equal(m.variant, 'minimal');
  assert.equal(m.version, built.version);
  assert.match(m.base.sha256, /^[0-9a-f]{64}$/);
  assert.equal(m.base.spec, 'debian-13');
  // The toolchain was built into the base on the host, then purged from the minimal image.
  assert.ok(m.base.preinstalled_packages.includes('linux-headers-cloud-amd64'), JSON.stringify(m.base));
  assert.match(m.kernel, /^6\.12\.\S+-cloud-amd64$/);
  assert.equal(m.module.vermagic.split(' ')[0], m.kernel);
  assert.match(m.module.sha256, /^[0-9a-f]{64}$/);
  assert.equal(m.module.version, built.version);
  assert.match(m.vexctl.sha256, /^[0-9a-f]{64}$/);
  assert.ok(m.installed_packages > 100, `installed_packages ${m.installed_packages}`);
  assert.equal(m.files.image.name, `${n}.qcow2`);
  assert.equal(m.files.image.sha256, readFileSync(join(built.dir, `${n}.qcow2.sha256`), 'utf8').split(' ')[0]);
  assert.ok(m.files.image.size > 0 && m.files.compressed.size > 0 && m.files.compressed.size < m.files.image.size);
  assert.ok(m.files.image.virtual_size >= 10 * 2 ** 30, 'disk not grown to 10G');
  // A snapshotable build VM (the default) gets the source and the payload's files over SSH; a
  // cold one through the source share and cloud-init.
  const vmStages = m.source.transport === 'ssh' ? ['warm-start', 'payload-files'] : ['source-share'];
  for (const s of ['environment', 'base-image', 'overlay', 'access-seed', ...vmStages, 'boot', 'wait-ssh', 'wait-cloud-init', 'build-in-vm', 'sbom-licences', 'variant', 'golden-cleanup', 'sbom-packages', 'power-off', 'finalise']) {
    assert.equal(typeof m.stage_times_ms[s], 'number', `no time for stage ${s}`);
  }
  assert.match(m.build_vm.start, /^(resumed|booted)$/);
  assert.match(m.tool.version, /^\d+\.\d+\.\d+/);
  assert.ok('commit' in m.source);
  assert.equal(m.clean_shutdown, true);
  const text = readFileSync(join(built.dir, `${n}.manifest`), 'utf8');
  assert.match(text, new RegExp(`VexFS version:\\s+${built.version.replace(/\./g, '\\.')}`));
  // SBOM + provenance: valid, matching the manifest, and the SBOM's packages are the finished
  // image's own dpkg database read on the host.
  const supply = await checkSupplyFiles(built.dir, n, m);
  const inVm = m.stage_times_ms['sbom-licences'] + m.stage_times_ms['sbom-packages'];
  t.diagnostic(`SBOM + provenance: ${inVm} ms in the VM (licences ${m.stage_times_ms['sbom-licences']}, dpkg database ${m.stage_times_ms['sbom-packages']}) + ${m.supply.ms} ms in finalise; ${supply.packages} packages; host read of the image's dpkg database ${supply.hostReadMs} ms`);
  // The 5 s target is measured and printed (above), not asserted: a timed test fails on a loaded machine.
});

test('an unchanged rebuild of the test image is a no-op: "up to date", exit 0, nothing written, within 3 s', { timeout: 1_800_000 }, async () => {
  const built = await ensureBuiltImage('minimal');
  const snapshot = (): string[] => readdirSync(built.dir).sort().map((f) => `${f} ${statSync(join(built.dir, f)).mtimeMs}`);
  const before = snapshot();
  const buildDir = join(tempDir(), 'build');
  const args = ['build', '--variant', built.variant, '--version', built.version, '--output-dir', built.dir, '--build-dir', buildDir];
  const t0 = Date.now();
  const r = cli(args, PACKAGE_ROOT);
  const ms = Date.now() - t0;
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^up to date: ${built.image.replace(/[.+]/g, '\\$&')}$`, 'm'));
  assert.equal(r.stdout.trim(), built.image);
  assert.deepEqual(snapshot(), before, 'the no-op build touched the output directory');
  assert.ok(!existsSync(buildDir), 'the no-op build wrote a build directory');
  // The CLI's own start-up from sources (tsx) is most of it on a loaded machine: measured
  // beside it, and the target holds for the no-op's work over that.
  const v0 = Date.now();
  assert.equal(cli(['--version'], PACKAGE_ROOT).status, 0);
  const startupMs = Date.now() - v0;
  console.log(`# unchanged rebuild: ${ms} ms (vexfs-image --version alone: ${startupMs} ms)`);
  assert.ok(ms - startupMs <= 3000, `the no-op build took ${ms} ms, ${ms - startupMs} ms more than --version (target: 3000)`);

  // Another input (here the payload's build command): refused, exit 2, naming what changed, nothing written.
  const changed = cli([...args, '--build-command', 'make vm-build V=1'], PACKAGE_ROOT);
  assert.equal(changed.status, 2, changed.stderr);
  assert.match(changed.stderr, /already exists and is not up to date: its inputs changed: payload \(pass --force/);
  assert.match(changed.stderr, /--force/);
  assert.deepEqual(snapshot(), before);
});

type Manifest = { build_vm: { start: string; snapshot_key?: string }; source: { transport: string }; clean_shutdown: boolean; module: { sha256: string }; vexctl: { sha256: string }; stage_times_ms: Record<string, number> };

test('warm start: a build resumes the snapshot of the booted build VM; its image is a cold build\'s but for what two builds differ in, and validates', { timeout: 1_800_000 }, async (t) => {
  // The shared image's build (cold, or itself resumed) left the snapshot of this base and machine.
  await ensureBuiltImage('minimal');
  const dir = tempDir('vexfs-warm-');
  const version = '0.9.4-warm';
  const build = (out: string, extra: string[] = []): { status: number | null; stderr: string; ms: number; m: Manifest } => {
    const t0 = Date.now();
    const r = cli(['build', '--variant', 'minimal', '--version', version, '--output-dir', join(dir, out), '--build-dir', join(dir, `build-${out}`), '--no-incremental', ...extra], PACKAGE_ROOT);
    const ms = Date.now() - t0;
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    return { ...r, ms, m: JSON.parse(readFileSync(join(dir, out, `vexfs-minimal-${version}.json`), 'utf8')) };
  };
  const warm = build('warm');
  assert.match(warm.stderr, /resuming the snapshot of /);
  assert.match(warm.stderr, /clock set and entropy added after the restore/);
  assert.equal(warm.m.build_vm.start, 'resumed');
  assert.match(warm.m.build_vm.snapshot_key ?? "", /^[0-9a-f]{64}$/);
  assert.equal(warm.m.source.transport, 'ssh');
  assert.equal(warm.m.clean_shutdown, true);
  const cold = build('cold', ['--no-snapshot']);
  assert.equal(cold.m.build_vm.start, 'booted');
  assert.notEqual(cold.m.source.transport, 'ssh');
  const st = (m: Manifest): string => ['wait-ssh', 'wait-cloud-init', 'build-in-vm', 'variant'].map((s) => `${s} ${((m.stage_times_ms[s] ?? 0) / 1000).toFixed(1)}`).join(', ');
  t.diagnostic(`resumed: ${(warm.ms / 1000).toFixed(1)} s (${st(warm.m)}); booted cold: ${(cold.ms / 1000).toFixed(1)} s (${st(cold.m)})`);
  assert.equal(warm.m.module.sha256, cold.m.module.sha256, 'the same module, byte for byte');
  assert.equal(warm.m.vexctl.sha256, cold.m.vexctl.sha256);
  const img = (out: string): string => join(dir, out, `vexfs-minimal-${version}.qcow2`);
  const d = await diffImages(img('cold'), img('warm'), { tmpDir: tempDir('vexfs-warm-diff-') });
  t.diagnostic(diffText(d));
  assert.deepEqual(d.packages, []);
  const unexpected = d.files.filter((f) => !EXPECTED_DIFFERENCES.some(([re]) => re.test(f.path)));
  assert.deepEqual(unexpected.map((f) => `${f.changes.join(',')} ${f.path}`), [], 'the resumed build\'s image is the cold one\'s but for what two builds differ in');
  const v = cli(['validate', img('warm'), '--report-dir', join(dir, 'report')], PACKAGE_ROOT);
  assert.equal(v.status, 0, v.stderr.slice(-3000));
  assert.deepEqual(qemuProcesses(`vexfs-build-vexfs-minimal-${version}`), []);
});

test('bad input: exit 2 with one line, nothing written', () => {
  const dir = tempDir();
  const cases: Array<[string[], RegExp]> = [
    [['build', '--source', join(dir, 'nope')], /source directory .* does not exist/],
    [['build', '--variant', 'a/b'], /invalid variant name/],
    [['build', '--variant', 'nope'], /unknown variant "nope".*minimal/],
    [['build', '--version', '1.0;rm'], /invalid version/],
    [['build', '--version', '..'], /invalid version/],
    [['build', '--memory', 'lots'], /--memory must be a whole number/],
    [['build', '--bogus'], /unknown option '--bogus'/],
  ];
  for (const [args, re] of cases) {
    const r = cli([...args, '--output-dir', join(dir, 'out'), '--build-dir', join(dir, 'build')], dir);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').filter((l) => !l.startsWith('hint:')).length, 1, `more than one line: ${r.stderr}`);
    assert.ok(!existsSync(join(dir, 'out')) && !existsSync(join(dir, 'build')), `${args.join(' ')} wrote something`);
  }
  const noTarget = join(dir, 'src-no-target');
  mkdirSync(noTarget);
  writeFileSync(join(noTarget, 'Makefile'), 'all:\n\ttrue\n');
  const r = cli(['build', '--source', noTarget, '--output-dir', join(dir, 'out')], dir);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /no vm-build target/);
});

test('a guest build that fails: exit 1, the log tail in the error, no image, no QEMU left', { timeout: 900_000 }, () => {
  const dir = tempDir();
  const src = join(dir, 'broken-src');
  mkdirSync(src);
  // No packages: the failing build is reached in about a minute instead of after apt.
  writeFileSync(join(src, 'vexfs-image.yaml'), 'base_packages: [make]\n');
  writeFileSync(join(src, 'Makefile'), 'vm-build:\n\t@echo "compiling vexfs: step 1"\n\t@echo "vexfs.c:42: error: deliberate failure" >&2\n\t@exit 3\n');
  const out = join(dir, 'out');
  const r = cli(['build', '--variant', 'minimal', '--source', src, '--output-dir', out, '--build-dir', join(dir, 'build'), '--timeout', '600'], dir);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /the guest build \(make vm-build\) failed in the VM/);
  assert.match(r.stderr, /vexfs\.c:42: error: deliberate failure/);
  const images = existsSync(out) ? readdirSync(out).filter((f) => f.endsWith('.qcow2') || f.startsWith('.')) : [];
  assert.deepEqual(images, []);
  assert.deepEqual(qemuProcesses('vexfs-build-minimal'), []);
  assert.ok(!existsSync(join(dir, 'build', 'vm-minimal')), 'build/vm-minimal was not cleaned up');
});
