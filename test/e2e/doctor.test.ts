// The real `vexfs-image doctor --json` on this machine: real QEMU, real accelerator probe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DoctorReport } from '../../src/doctor.js';
import { PACKAGE_ROOT } from '../../src/paths.js';

const MAIN = join(PACKAGE_ROOT, 'src', 'cli', 'main.ts');

function doctorJson(args: string[]): { status: number | null; report: DoctorReport; ms: number; stderr: string } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), MAIN, 'doctor', '--json', ...args], {
    cwd: PACKAGE_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const ms = Date.now() - t0;
  assert.ok(r.stdout, `no JSON on stdout (exit ${r.status}):\n${r.stderr}`);
  return { status: r.status, report: JSON.parse(r.stdout) as DoctorReport, ms, stderr: r.stderr };
}

test('doctor --json reports what this machine can run, within 30 s, then answers from its cache', { timeout: 180_000 }, (t) => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'vexfs-doctor-e2e-'));
  t.after(() => rmSync(cacheDir, { recursive: true, force: true }));

  const first = doctorJson(['--refresh', '--cache-dir', cacheDir]);
  const r = first.report;
  t.diagnostic(`doctor --refresh took ${first.ms} ms (report.ms ${r.ms}); chosen: ${r.accelerator?.chosen}`);
  t.diagnostic(`KVM: usable=${r.accelerator?.kvm.usable} (${r.accelerator?.kvm.reason}); TCG: ${r.accelerator?.tcg.reason}`);
  assert.equal(first.status, r.ok ? 0 : 1, first.stderr);
  assert.ok(first.ms < 30_000, `doctor took ${first.ms} ms (must be < 30 s)`);

  const qemu = r.tools.find((x) => x.name === 'qemu-system-x86_64');
  assert.ok(qemu?.found, 'qemu-system-x86_64 must be installed for the e2e suite');
  assert.match(qemu.version ?? '', /QEMU emulator version \d+\.\d+/);
  const acc = r.accelerator;
  assert.ok(acc, 'an accelerator probe ran');
  assert.equal(acc.cached, false);
  assert.equal(acc.tcg.usable, true, `TCG must work here: ${acc.tcg.reason}`);
  assert.match(acc.tcg.reason, /probe guest finished in \d+ ms/);
  assert.ok(acc.chosen === 'tcg' || acc.chosen === 'kvm');
  if (existsSync('/dev/kvm')) {
    // Present here: probed for real, and the verdict explained either way.
    assert.equal(typeof acc.kvm.usable, 'boolean');
    assert.match(acc.kvm.reason, /probe guest|KVM guest ran|failed|not accessible/);
    assert.doesNotMatch(acc.kvm.reason, /\/dev\/kvm is missing/);
  } else {
    assert.equal(acc.kvm.usable, false);
    assert.match(acc.kvm.reason, /\/dev\/kvm is missing or not accessible/);
  }
  assert.equal(acc.chosen, acc.kvm.usable ? 'kvm' : 'tcg');

  const second = doctorJson(['--cache-dir', cacheDir]);
  t.diagnostic(`doctor (cached) took ${second.ms} ms`);
  const acc2 = second.report.accelerator;
  assert.equal(acc2?.cached, true);
  assert.equal(acc2.probedAt, acc.probedAt);
  assert.equal(acc2.chosen, acc.chosen);
  assert.ok(second.ms < first.ms || second.ms < 10_000, `cached run took ${second.ms} ms`);
});
