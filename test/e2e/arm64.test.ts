// End-to-end, issue 19 (arm64 images): the minimal image built for arm64 on this x86_64 host
// (the base from Debian's arm64 packages through qemu-user, the build VM under
// qemu-system-aarch64 -M virt with AAVMF, TCG) and validated by the real CLI with the same checks
// as amd64, the architecture read from its sidecar .json.
//
// Behind VEXFS_E2E_ARM64=1: CI cannot afford it (a base through qemu-user, then a build and a
// validation under full-system emulation of another architecture). doctor's arm64 probe guest
// runs whenever the arm64 host packages are installed (it takes well under a second).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/paths.js';
import type { ValidationReport } from '../../src/report/model.js';
import { archHostStatus } from '../../src/tools/arch-host.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');
const ENABLED = process.env.VEXFS_E2E_ARM64 === '1';
const INSTALLED = archHostStatus('arm64').items.every((i) => i.found);
const VERSION = '0.19.0-arm64-test';

let work: string;
before(async () => {
  work = await mkdtemp(join(process.env.VEXFS_E2E_WORK ?? tmpdir(), 'vexfs-e2e-arm64-'));
});
after(async () => {
  if (work && !process.env.VEXFS_E2E_KEEP) await rm(work, { recursive: true, force: true });
});

function cli(args: string[]): { status: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 3_600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

describe('doctor: the arm64 probe guest', { skip: INSTALLED ? false : 'qemu-system-arm, qemu-efi-aarch64, qemu-user-static or binfmt-support not installed' }, () => {
  test('runs under its deadline and says arm64 works', () => {
    const r = cli(['doctor', '--json', '--arch', 'arm64']);
    const report = JSON.parse(r.stdout) as { architectures: Array<{ arch: string; ok: boolean; probe?: { usable: boolean; ms?: number; reason: string } }> };
    const arm = report.architectures.find((a) => a.arch === 'arm64')!;
    assert.equal(arm.ok, true, JSON.stringify(arm));
    assert.ok((arm.probe?.ms ?? Infinity) < 15_000, arm.probe?.reason);
  });
});

describe('arm64 minimal: built and validated under TCG', { skip: ENABLED ? (INSTALLED ? false : 'arm64 host packages not installed') : 'set VEXFS_E2E_ARM64=1 (a base through qemu-user, a build and a validation under TCG)' }, () => {
  test('build --arch arm64 publishes -arm64 files whose manifest says arm64; validate IMAGE passes every check', () => {
    const out = join(work, 'images');
    const b = cli(['build', '--arch', 'arm64', '--variant', 'minimal', '--base', 'debian-12', '--version', VERSION, '--output-dir', out, '--build-dir', join(work, 'build'), '--force']);
    assert.equal(b.status, 0, `build failed:\n${b.stdout}\n${b.stderr.slice(-4000)}`);
    const stem = `vexfs-minimal-${VERSION}-arm64`;
    const image = join(out, `${stem}.qcow2`);
    assert.equal(b.stdout.trim(), image);
    for (const suffix of ['.qcow2.gz', '.qcow2.sha256', '.json', '.manifest', '.spdx.json', '.cdx.json', '.intoto.json']) assert.ok(existsSync(join(out, `${stem}${suffix}`)), `${stem}${suffix}`);
    const manifest = JSON.parse(readFileSync(join(out, `${stem}.json`), 'utf8')) as { architecture: string; kernel: string; module: { vermagic: string }; accelerator: string };
    assert.equal(manifest.architecture, 'arm64');
    assert.equal(manifest.accelerator, 'tcg');
    assert.match(manifest.kernel, /-cloud-arm64$/, 'built against its own arm64 kernel');
    assert.match(manifest.module.vermagic, /aarch64|cloud-arm64/);
    assert.match(readFileSync(join(out, `${stem}.cdx.json`), 'utf8'), /"vexfs-image:architecture"[\s\S]{0,40}"arm64"/);
    console.log(`# arm64 build: ${(b.ms / 1000).toFixed(0)} s`);

    // No --arch: validate reads it from the sidecar .json.
    const reportDir = join(work, 'report');
    const v = cli(['validate', '--report-dir', reportDir, '--checksum', image]);
    assert.equal(v.status, 0, `validate failed:\n${v.stdout}\n${v.stderr.slice(-4000)}`);
    const report = JSON.parse(readFileSync(join(reportDir, 'validation.json'), 'utf8')) as ValidationReport;
    const [row] = report.images;
    assert.equal(row!.status, 'passed');
    assert.equal(row!.architecture, 'arm64', 'the report row says arm64');
    assert.match(readFileSync(join(reportDir, 'junit.xml'), 'utf8'), /<property name="architecture" value="arm64"\/>/);
    assert.equal(row!.summary.failed + row!.summary.errors, 0);
    assert.equal(row!.checks.find((c) => c.id === 'image-architecture')?.status, 'passed', 'dpkg in the guest says arm64');
    const serial = readFileSync(join(reportDir, 'logs', row!.name, 'serial.log'), 'latin1');
    assert.match(serial, /Booting Linux on physical CPU/, 'an arm64 kernel booted');
    assert.match(serial, /ttyAMA0/, 'its console on the PL011');
    console.log(`# arm64 validation: ${(v.ms / 1000).toFixed(0)} s, SSH ready ${((row!.timings.sshReadyMs ?? 0) / 1000).toFixed(1)} s, ${row!.summary.passed}/${row!.summary.total} checks`);
  });
});
