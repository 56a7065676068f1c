// End-to-end: bring your own module. A copy of test/fixtures/scratchfs-tree (module in
// kernel_module/, named scratchfs, registering the filesystem "scratch", built by `make modules`,
// no user-space tool) gets its config from `vexfs-image init` with no edit, builds into a minimal
// image whose manifest lists what it installed, and validates with the checks derived from the
// payload. Bad payloads exit 2 before any VM boots; a declared module the build does not produce
// exits 2 after the build, naming what it did produce.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir } from '../helpers/fs.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { loadConfig } from '../../src/config/load.js';
import { checksForVariant } from '../../src/validate/checks.js';
import { extraOnly } from '../helpers/extra.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');
const FIXTURE = join(PACKAGE_ROOT, 'test', 'fixtures', 'scratchfs-tree');
const VERSION = '0.3.0-e2e';

function cli(args: string[], cwd: string, timeoutMs = 1_800_000): { status: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(BIN, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

function qemuRunning(tag: string): string[] {
  return spawnSync('pgrep', ['-af', `qemu-system-x86_64.*${tag}`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
}

describe('a project of its own: init, build, validate', { timeout: 90 * 60_000 }, () => {
  const work = tempDir();
  const source = join(work, 'scratchfs');
  const out = join(work, 'images');
  const buildDir = join(work, 'build');

  before(() => {
    cpSync(FIXTURE, source, { recursive: true });
  });

  test('init writes a config that needs no edit, and never overwrites it', () => {
    const r = cli(['init', '--source', source], work);
    assert.equal(r.status, 0, r.stderr);
    const path = join(source, 'vexfs-image.yaml');
    assert.equal(r.stdout.trim(), path);
    const cfg = loadConfig({ source });
    assert.equal(cfg.payload.buildCommand, 'make modules');
    assert.equal(cfg.payload.buildDirectory, '.');
    assert.deepEqual(cfg.payload.modules, [{ name: 'scratchfs', path: 'kernel_module/scratchfs.ko', installDir: 'extra/scratchfs', filesystem: 'scratch' }]);
    assert.deepEqual([...cfg.payload.tools, ...cfg.payload.files, ...cfg.payload.services], []);
    const before = readFileSync(path, 'utf8');
    const again = cli(['init', '--source', source], work);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already exists: init never overwrites/);
    assert.equal(readFileSync(path, 'utf8'), before);
  });

  test('bad payloads: exit 2 with one line, before any VM starts, nothing written', () => {
    const bad = join(work, 'bad');
    const cases: Array<[string, string[], RegExp]> = [
      ['', ['--module', 'kernel_module/scratchfs'], /invalid module name "kernel_module\/scratchfs" \(from --module\).*no "\/"/],
      ['', ['--build-subdir', '../..'], /--build-subdir "\.\.\/\.\." is outside the source tree/],
      ['', ['--build-subdir', 'nope'], /--build-subdir "nope" does not exist in the source tree/],
      ['', ['--build-command', 'make vm-build'], /Makefile has no vm-build target/],
      ['payload:\n  modules:\n    - { name: a, install_dir: ../../boot }\n', [], /modules\.a\.install_dir "\.\.\/\.\.\/boot" leaves its directory/],
      ['payload:\n  modules:\n    - { name: a, install_dir: extra/x }\n    - { name: a, install_dir: extra/y }\n', [], /module a is declared twice/],
      [
        'payload:\n  modules: [{ name: scratchfs }]\n  tools:\n    - { name: one, install_path: /usr/bin/t }\n    - { name: two, install_path: /usr/bin/t }\n',
        [],
        /tool two and tool one both install to \/usr\/bin\/t/,
      ],
      ['payload:\n  modules: [{ name: "a/b" }]\n', [], /payload\.modules\[0\]\.name = "a\/b": a kernel module name.*no "\/"/],
      ['payload:\n  build: { directory: /etc }\n', [], /payload\.build\.directory "\/etc" is outside the source tree/],
    ];
    let n = 0;
    for (const [yaml, args, re] of cases) {
      const src = join(bad, `case-${n++}`);
      cpSync(FIXTURE, src, { recursive: true });
      if (yaml) writeFileSync(join(src, 'vexfs-image.yaml'), yaml);
      const r = cli(['build', '--source', src, '--variant', 'minimal', '--output-dir', join(src, 'out'), '--build-dir', join(src, 'build'), ...args], work, 60_000);
      assert.equal(r.status, 2, `${args.join(' ')} ${yaml}: ${r.stderr}`);
      assert.match(r.stderr, re);
      // One error line (a failed first step also prints its progress lines before it).
      assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('vexfs-image: error:')).length, 1, r.stderr);
      if (!args.includes('--build-command')) assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      // The Makefile is read by the first build step (after the log directory exists), the rest
      // when the plan is resolved.
      if (!args.includes('--build-command')) assert.ok(!existsSync(join(src, 'out')) && !existsSync(join(src, 'build')), 'nothing written');
      assert.deepEqual(qemuRunning(join(src, 'build')), []);
    }
  });

  let image: string | undefined;
  let buildMs = 0;

  test('builds with the generated config; the manifest lists the installed module', async (t) => {
    const r = cli(['build', '--source', source, '--variant', 'minimal', '--version', VERSION, '--output-dir', out, '--build-dir', buildDir, '--timeout', '1500'], work);
    buildMs = r.ms;
    assert.equal(r.status, 0, r.stderr.slice(-4000));
    t.diagnostic(`fixture build: ${(buildMs / 1000).toFixed(1)} s`);
    const name = `vexfs-minimal-${VERSION}`;
    image = join(out, `${name}.qcow2`);
    assert.ok(existsSync(image));
    const m = JSON.parse(readFileSync(join(out, `${name}.json`), 'utf8'));
    assert.match(m.kernel, /^6\.\d+\.\S+-cloud-amd64$/);
    assert.equal(m.module.version, '0.3.0');
    assert.equal(m.vexctl.sha256, null, 'no vexctl in this payload');
    assert.equal(m.artifacts.length, 1, JSON.stringify(m.artifacts));
    const ko = m.artifacts[0];
    assert.equal(ko.kind, 'module');
    assert.equal(ko.name, 'scratchfs');
    assert.equal(ko.path, `/lib/modules/${m.kernel}/extra/scratchfs/scratchfs.ko`);
    assert.ok(ko.size > 1000, `size ${ko.size}`);
    assert.match(ko.sha256, /^[0-9a-f]{64}$/);
    assert.equal(ko.sha256, m.module.sha256);
    assert.equal(ko.vermagic.split(' ')[0], m.kernel);
    assert.match(readFileSync(join(out, `${name}.manifest`), 'utf8'), /module +\/lib\/modules\/\S+\/extra\/scratchfs\/scratchfs\.ko \(\d+ bytes, sha256 [0-9a-f]{64}, vermagic /);
    assert.deepEqual(qemuRunning(buildDir), []);
  });

  test('validates with the checks derived from the payload', (t) => {
    if (!image) return t.skip('no image (the build failed)');
    const reportDir = join(work, 'report');
    const r = cli(['validate', image, '--source', source, '--report-dir', reportDir, '--format', 'json'], work, 900_000);
    t.diagnostic(`fixture validation: ${(r.ms / 1000).toFixed(1)} s; fixture build + validation ${((buildMs + r.ms) / 1000).toFixed(1)} s`);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(readFileSync(join(reportDir, 'validation.json'), 'utf8'));
    const img = report.images[0];
    const expected = checksForVariant(loadConfig({ source }).baseChecks, 'minimal').map((c) => c.id);
    assert.deepEqual(img.checks.map((c: { id: string }) => c.id), expected);
    assert.deepEqual(expected.slice(0, 5), ['module-info', 'module-load', 'module-listed', 'proc-filesystems', 'mount-rw']);
    assert.ok(!expected.some((id) => /vexctl|vexfs|helper/.test(id)), expected.join(' '));
    const notPassed = img.checks.filter((c: { status: string }) => c.status !== 'passed').map((c: { id: string; status: string; message: string }) => `${c.id}: ${c.status} ${c.message}`);
    assert.deepEqual(notPassed, []);
    const mount = img.checks.find((c: { id: string }) => c.id === 'mount-rw');
    assert.match(mount.message, /scratch/);
  });

  // A second full build (~3.5 min): VEXFS_E2E_EXTRA only; unit tests cover the message from the guest's results.
  test('a declared module the build does not produce: exit 2 naming it, where it looked, and what was built', { skip: extraOnly }, (t) => {
    if (!image) return t.skip('no image (the build failed)');
    const r = cli(['build', '--source', source, '--variant', 'minimal', '--version', VERSION, '--module', 'scratchfs', '--module', 'ghostfs', '--output-dir', join(work, 'out-missing'), '--build-dir', join(work, 'build-missing'), '--timeout', '1500'], work);
    assert.equal(r.status, 2, r.stderr.slice(-3000));
    assert.match(r.stderr, /did not produce module ghostfs \(\*\*\/ghostfs\.ko\): looked in \/usr\/src\/vexfs, which holds \.ko files: kernel_module\/scratchfs\.ko; executables: /);
    assert.ok(!existsSync(join(work, 'out-missing')) || readdirSync(join(work, 'out-missing')).length === 0, 'no image published');
    assert.deepEqual(qemuRunning(join(work, 'build-missing')), []);
  });
});
