// Every VM the tool boots goes through the VM session: QEMU is started by Vm.start, Vm.start is
// called only by the session's boot step, and the only other QEMU is the accelerator probe (a
// 512-byte boot sector run to completion under a deadline, tools/accel.ts, asked by doctor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../../../src/paths.js';

const SRC = join(PACKAGE_ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : n.endsWith('.ts') ? [p] : [];
  });
}

const files = sources(SRC).map((p) => ({ rel: relative(SRC, p), text: readFileSync(p, 'utf8') }));

test('Vm.start is called only by the VM session boot step', () => {
  const callers = files.filter((f) => /\bVm\.start\(/.test(f.text)).map((f) => f.rel);
  assert.deepEqual(callers, ['vm/steps/boot.ts']);
});

test('the Vm class is used (not only as a type) only by the VM session and the QEMU module', () => {
  const valueImport = /import\s*\{([^}]*)\}\s*from\s*'[./]*tools\/qemu\.js'/g;
  const users = files
    .filter((f) => [...f.text.matchAll(valueImport)].some((m) => m[1]!.split(',').some((n) => n.trim() === 'Vm')))
    .map((f) => f.rel);
  assert.deepEqual(users.filter((u) => !u.startsWith('vm/')), []);
});

test('a qemu-system binary is run only by tools/qemu.ts (Vm), the accelerator probe and the architecture probe', () => {
  // A process start whose command is a qemu-system binary, by name or through a variable or
  // table entry that holds one (the probes), or the default binary of Vm.start (the profile's).
  const starts = files.filter((f) => /(run|spawnProcess|runAttached)\(\s*(qemu\b|'qemu-system|opts\.qemu \?\? spec\.qemuBinary)(?!,\s*\['--version'\])|qemuBinary\(spec\.profile\),\s*\.\.\.qemuArgs/.test(f.text)).map((f) => f.rel);
  assert.deepEqual(starts.sort(), ['tools/accel.ts', 'tools/arch-probe.ts', 'tools/qemu.ts']);
});

test('the accelerator is chosen in one place: only the VM profile reads doctor\'s choice', () => {
  const readers = files.filter((f) => /accelerator\??\.chosen/.test(f.text)).map((f) => f.rel);
  // doctor computes the choice (tools/accel.ts) and reports it; `doctor` the command prints it.
  assert.deepEqual(readers.filter((r) => !['vm/profile.ts', 'doctor.ts', 'cli/commands/doctor.ts'].includes(r)), []);
});
